DROP TABLE IF EXISTS audit_logs, user_sessions, maintenance_requests, documents,
    transactions, leases, tenants, properties, users;
DROP EXTENSION IF EXISTS "uuid-ossp";
