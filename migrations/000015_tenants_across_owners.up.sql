-- Tenants across owners (API.md, Roles; domain/visibility.go; docs/security.md).
-- A user sees in full only the tenants it registered. A tenant another account
-- registered that a lease on one of its properties names (any status) it sees at
-- contact level: id, names, email and phone, read-only, and none of the tenant's
-- documents or audit rows. The reader's policies therefore show a user only the
-- tenants it sees in full; the contact columns of the others come through
-- app_tenant_contacts(), which never returns a personal column.

-- The tenants a lease on one of the viewer's properties names, whatever the
-- lease's status.
CREATE FUNCTION app_leased_tenant_ids() RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ SELECT l.tenant_id FROM leases l JOIN properties p ON p.id = l.property_id
          WHERE p.owner_id = app_viewer_id() $$;

-- From now on the tenants a user sees in full: those it registered. The documents
-- and audit policies (000005, 000010) and app_visible_document_ids() call it, so
-- a tenant's documents and audit rows follow full access, not a lease.
CREATE OR REPLACE FUNCTION app_visible_tenant_ids() RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ SELECT id FROM tenants WHERE registered_by = app_viewer_id() $$;

DROP POLICY tenants_visible ON tenants;
CREATE POLICY tenants_visible ON tenants FOR SELECT TO assetanchor_reader
    USING ((SELECT app_viewer_sees_all()) OR registered_by = (SELECT app_viewer_id()));

-- The contact columns of every tenant the viewer sees at any level: in full (as
-- above) or at contact level. A function rather than a view: a view would depend
-- on tenants, which a projection rebuild swaps (projections/rebuild.go refuses
-- dependent views), while a function's body is bound at each call. It runs as
-- the owner, so the reader's policy on tenants does not hide the contact-level
-- rows, and it fails closed like the policies: no viewer, no rows.
CREATE FUNCTION app_tenant_contacts()
    RETURNS TABLE (id uuid, first_name varchar, last_name varchar, email varchar, phone varchar, created_at timestamp)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ SELECT t.id, t.first_name, t.last_name, t.email, t.phone, t.created_at FROM tenants t
          WHERE app_viewer_sees_all() OR t.registered_by = app_viewer_id()
             OR t.id IN (SELECT f.id FROM app_leased_tenant_ids() AS f(id)) $$;

REVOKE ALL ON FUNCTION app_leased_tenant_ids(), app_tenant_contacts() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_leased_tenant_ids(), app_tenant_contacts() TO assetanchor_reader;
