-- The role assetanchor_reader stays: roles belong to the cluster, and other
-- databases may still use it. Everything of this database goes.
DROP POLICY audit_logs_visible ON audit_logs;
DROP POLICY documents_visible ON documents;
DROP POLICY tenants_visible ON tenants;
DROP POLICY maintenance_requests_visible ON maintenance_requests;
DROP POLICY transactions_visible ON transactions;
DROP POLICY leases_visible ON leases;
DROP POLICY properties_visible ON properties;
DROP POLICY user_sessions_visible ON user_sessions;
DROP POLICY users_visible ON users;

ALTER TABLE users DISABLE ROW LEVEL SECURITY;
ALTER TABLE user_sessions DISABLE ROW LEVEL SECURITY;
ALTER TABLE properties DISABLE ROW LEVEL SECURITY;
ALTER TABLE tenants DISABLE ROW LEVEL SECURITY;
ALTER TABLE leases DISABLE ROW LEVEL SECURITY;
ALTER TABLE transactions DISABLE ROW LEVEL SECURITY;
ALTER TABLE documents DISABLE ROW LEVEL SECURITY;
ALTER TABLE maintenance_requests DISABLE ROW LEVEL SECURITY;
ALTER TABLE audit_logs DISABLE ROW LEVEL SECURITY;

DROP FUNCTION app_own_session_ids();
DROP FUNCTION app_visible_document_ids();
DROP FUNCTION app_visible_tenant_ids();
DROP FUNCTION app_visible_maintenance_ids();
DROP FUNCTION app_owned_transaction_ids();
DROP FUNCTION app_owned_lease_ids();
DROP FUNCTION app_owned_property_ids();
DROP FUNCTION app_viewer_sees_all();
DROP FUNCTION app_viewer_role();
DROP FUNCTION app_viewer_id();

REVOKE SELECT ON users, user_sessions, properties, tenants, leases, transactions, documents,
    maintenance_requests, audit_logs FROM assetanchor_reader;
