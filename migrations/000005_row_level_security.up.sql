-- Row-level security on the read model: the second line of owner isolation, behind
-- the queries' own filters (DESIGN.md, Security; API.md, Roles).
--
-- Read-model queries run as assetanchor_reader, a role without login that may only
-- SELECT the read-model tables and is subject to the policies below. The application
-- connects as the tables' owner (projectors and migrations run so, and the owner is
-- not subject: RLS is enabled, not forced) and switches to the reader inside each
-- query's transaction, together with two transaction-local settings:
--   app.user_id  the viewer's user id (a UUID)
--   app.role     the viewer's role: admin, manager or user
-- Without them a reader sees nothing: every policy fails closed.

-- Roles belong to the cluster, not to this database: other databases of the
-- cluster may already have created it (racing migrations included), and down
-- leaves it in place for them.
DO $$
BEGIN
    CREATE ROLE assetanchor_reader NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- The connecting role must be able to switch to the reader (a superuser always can).
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'assetanchor_reader', 'MEMBER') THEN
        EXECUTE format('GRANT assetanchor_reader TO %I', current_user);
    END IF;
EXCEPTION WHEN unique_violation THEN
    NULL; -- a racing migration of another database granted it first
END
$$;

GRANT SELECT ON users, user_sessions, properties, tenants, leases, transactions, documents,
    maintenance_requests, audit_logs TO assetanchor_reader;

-- The viewer, as the query's transaction set it. The policies call them as scalar
-- subqueries, "(SELECT app_viewer_id())": evaluated once per query (an InitPlan),
-- not once per row, and still usable in index conditions.
CREATE FUNCTION app_viewer_id() RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;

CREATE FUNCTION app_viewer_role() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('app.role', true), '') $$;

-- Admins and managers see every property and everything under it.
CREATE FUNCTION app_viewer_sees_all() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('app.role', true), '') IN ('admin', 'manager') $$;

-- What a user sees beyond its own rows, as sets of ids. They run as their owner
-- (SECURITY DEFINER), who is not subject to the policies: a policy that read
-- another table under that table's own policy would make the planner expand every
-- policy inside every other (the audit log's nests all of them), which cost tens
-- of milliseconds of planning per query. A policy uses them as
-- "col IN (SELECT f.id FROM app_...() AS f(id))": one hashed set per query, built
-- only when a row needs it (in FROM, a function returns its rows all at once,
-- several times faster than one by one in a select list).
CREATE FUNCTION app_owned_property_ids() RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ SELECT id FROM properties WHERE owner_id = app_viewer_id() $$;

CREATE FUNCTION app_owned_lease_ids() RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ SELECT l.id FROM leases l JOIN properties p ON p.id = l.property_id WHERE p.owner_id = app_viewer_id() $$;

CREATE FUNCTION app_owned_transaction_ids() RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ SELECT t.id FROM transactions t JOIN leases l ON l.id = t.lease_id JOIN properties p ON p.id = l.property_id
          WHERE p.owner_id = app_viewer_id() $$;

-- The requests of its properties and those assigned to it.
CREATE FUNCTION app_visible_maintenance_ids() RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ SELECT m.id FROM maintenance_requests m LEFT JOIN properties p ON p.id = m.property_id
          WHERE p.owner_id = app_viewer_id() OR m.assigned_to = app_viewer_id() $$;

-- The tenants it registered and those that lease one of its properties.
CREATE FUNCTION app_visible_tenant_ids() RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ SELECT id FROM tenants WHERE registered_by = app_viewer_id()
          UNION SELECT l.tenant_id FROM leases l JOIN properties p ON p.id = l.property_id
          WHERE p.owner_id = app_viewer_id() $$;

-- The documents the viewer sees, whatever its role (see the documents policy).
CREATE FUNCTION app_visible_document_ids() RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ SELECT d.id FROM documents d
          WHERE (NOT coalesce(d.is_confidential, FALSE) OR app_viewer_role() IN ('admin', 'user'))
            AND (app_viewer_sees_all() OR CASE d.entity_type
                WHEN 'property' THEN d.entity_id IN (SELECT f.id FROM app_owned_property_ids() AS f(id))
                WHEN 'lease' THEN d.entity_id IN (SELECT f.id FROM app_owned_lease_ids() AS f(id))
                WHEN 'tenant' THEN d.entity_id IN (SELECT f.id FROM app_visible_tenant_ids() AS f(id))
                WHEN 'transaction' THEN d.entity_id IN (SELECT f.id FROM app_owned_transaction_ids() AS f(id))
                ELSE FALSE END) $$;

CREATE FUNCTION app_own_session_ids() RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ SELECT id FROM user_sessions WHERE user_id = app_viewer_id() $$;

-- Only the reader (and the owner) call them.
REVOKE ALL ON FUNCTION app_owned_property_ids(), app_owned_lease_ids(), app_owned_transaction_ids(),
    app_visible_maintenance_ids(), app_visible_tenant_ids(), app_visible_document_ids(), app_own_session_ids()
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_owned_property_ids(), app_owned_lease_ids(), app_owned_transaction_ids(),
    app_visible_maintenance_ids(), app_visible_tenant_ids(), app_visible_document_ids(), app_own_session_ids()
    TO assetanchor_reader;

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE properties ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE leases ENABLE ROW LEVEL SECURITY;
ALTER TABLE transactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE maintenance_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_logs ENABLE ROW LEVEL SECURITY;

-- Admins see every user and managers read them; a user sees itself.
CREATE POLICY users_visible ON users FOR SELECT TO assetanchor_reader
    USING ((SELECT app_viewer_sees_all()) OR id = (SELECT app_viewer_id()));

-- Sessions are their user's, and the administrators'.
CREATE POLICY user_sessions_visible ON user_sessions FOR SELECT TO assetanchor_reader
    USING ((SELECT app_viewer_role()) = 'admin' OR user_id = (SELECT app_viewer_id()));

-- A user sees the properties it owns,
CREATE POLICY properties_visible ON properties FOR SELECT TO assetanchor_reader
    USING ((SELECT app_viewer_sees_all()) OR owner_id = (SELECT app_viewer_id()));

-- ... the leases of those properties,
CREATE POLICY leases_visible ON leases FOR SELECT TO assetanchor_reader
    USING ((SELECT app_viewer_sees_all()) OR property_id IN (SELECT f.id FROM app_owned_property_ids() AS f(id)));

-- ... the transactions of those leases,
CREATE POLICY transactions_visible ON transactions FOR SELECT TO assetanchor_reader
    USING ((SELECT app_viewer_sees_all()) OR lease_id IN (SELECT f.id FROM app_owned_lease_ids() AS f(id)));

-- ... the maintenance requests of those properties and those assigned to it,
CREATE POLICY maintenance_requests_visible ON maintenance_requests FOR SELECT TO assetanchor_reader
    USING ((SELECT app_viewer_sees_all()) OR assigned_to = (SELECT app_viewer_id())
        OR property_id IN (SELECT f.id FROM app_owned_property_ids() AS f(id)));

-- ... the tenants it registered and those that lease one of its properties.
CREATE POLICY tenants_visible ON tenants FOR SELECT TO assetanchor_reader
    USING ((SELECT app_viewer_sees_all()) OR registered_by = (SELECT app_viewer_id())
        OR id IN (SELECT f.id FROM app_visible_tenant_ids() AS f(id)));

-- A document is visible with the entity it is attached to; confidential documents
-- are hidden from managers.
CREATE POLICY documents_visible ON documents FOR SELECT TO assetanchor_reader
    USING ((NOT coalesce(is_confidential, FALSE) OR (SELECT app_viewer_role()) IN ('admin', 'user'))
        AND ((SELECT app_viewer_sees_all()) OR CASE entity_type
            WHEN 'property' THEN entity_id IN (SELECT f.id FROM app_owned_property_ids() AS f(id))
            WHEN 'lease' THEN entity_id IN (SELECT f.id FROM app_owned_lease_ids() AS f(id))
            WHEN 'tenant' THEN entity_id IN (SELECT f.id FROM app_visible_tenant_ids() AS f(id))
            WHEN 'transaction' THEN entity_id IN (SELECT f.id FROM app_owned_transaction_ids() AS f(id))
            ELSE FALSE END));

-- An audit row is visible with the entity it audits (so a manager does not see
-- those of confidential documents).
CREATE POLICY audit_logs_visible ON audit_logs FOR SELECT TO assetanchor_reader
    USING ((SELECT app_viewer_role()) = 'admin' OR CASE entity_type
        WHEN 'document' THEN entity_id IN (SELECT f.id FROM app_visible_document_ids() AS f(id))
        ELSE (SELECT app_viewer_sees_all()) OR CASE entity_type
            WHEN 'property' THEN entity_id IN (SELECT f.id FROM app_owned_property_ids() AS f(id))
            WHEN 'lease' THEN entity_id IN (SELECT f.id FROM app_owned_lease_ids() AS f(id))
            WHEN 'transaction' THEN entity_id IN (SELECT f.id FROM app_owned_transaction_ids() AS f(id))
            WHEN 'maintenance_request' THEN entity_id IN (SELECT f.id FROM app_visible_maintenance_ids() AS f(id))
            WHEN 'tenant' THEN entity_id IN (SELECT f.id FROM app_visible_tenant_ids() AS f(id))
            WHEN 'user' THEN entity_id = (SELECT app_viewer_id())
            WHEN 'session' THEN entity_id IN (SELECT f.id FROM app_own_session_ids() AS f(id))
            ELSE FALSE END
        END);
