DROP FUNCTION app_tenant_contacts();

DROP POLICY tenants_visible ON tenants;
CREATE POLICY tenants_visible ON tenants FOR SELECT TO assetanchor_reader
    USING ((SELECT app_viewer_sees_all()) OR registered_by = (SELECT app_viewer_id())
        OR id IN (SELECT f.id FROM app_visible_tenant_ids() AS f(id)));

CREATE OR REPLACE FUNCTION app_visible_tenant_ids() RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ SELECT id FROM tenants WHERE registered_by = app_viewer_id()
          UNION SELECT l.tenant_id FROM leases l JOIN properties p ON p.id = l.property_id
          WHERE p.owner_id = app_viewer_id() $$;

DROP FUNCTION app_leased_tenant_ids();
