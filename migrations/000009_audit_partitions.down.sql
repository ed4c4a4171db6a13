-- Back to the seed's unpartitioned audit_logs (primary key id), with every row
-- and the same row-level security and grants.

DROP FUNCTION ensure_audit_partitions(date), create_audit_partition(date);

ALTER TABLE audit_logs RENAME TO audit_logs_partitioned;
DROP INDEX idx_audit_user, idx_audit_entity, idx_audit_action, idx_audit_created;
ALTER TABLE audit_logs_partitioned DROP CONSTRAINT audit_logs_pkey, DROP CONSTRAINT audit_logs_user_id_fkey;

CREATE TABLE audit_logs (
    id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    user_id UUID REFERENCES users(id),
    action VARCHAR(50) NOT NULL,
    entity_type VARCHAR(50) NOT NULL,
    entity_id UUID,
    old_values JSONB,
    new_values JSONB,
    ip_address VARCHAR(45),
    user_agent TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT NOW()
);
INSERT INTO audit_logs (id, user_id, action, entity_type, entity_id, old_values, new_values,
    ip_address, user_agent, created_at)
SELECT id, user_id, action, entity_type, entity_id, old_values, new_values,
    ip_address, user_agent, created_at
FROM audit_logs_partitioned;
CREATE INDEX idx_audit_user ON audit_logs(user_id);
CREATE INDEX idx_audit_entity ON audit_logs(entity_type, entity_id);
CREATE INDEX idx_audit_action ON audit_logs(action);
CREATE INDEX idx_audit_created ON audit_logs(created_at);

ALTER TABLE audit_logs ENABLE ROW LEVEL SECURITY;
DO $$
DECLARE
    stmt text;
BEGIN
    FOR stmt IN
        SELECT format('CREATE POLICY %I ON audit_logs AS %s FOR %s TO %s%s%s', p.polname,
            CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
            CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
            (SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(r)) END, ', ')
                FROM unnest(p.polroles) r),
            ' USING (' || pg_get_expr(p.polqual, p.polrelid) || ')',
            ' WITH CHECK (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')')
        FROM pg_policy p WHERE p.polrelid = 'audit_logs_partitioned'::regclass
        UNION ALL
        SELECT format('GRANT %s ON audit_logs TO %s', a.privilege_type,
            CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END)
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = 'audit_logs_partitioned'::regclass AND a.grantee <> c.relowner
    LOOP
        EXECUTE stmt;
    END LOOP;
END
$$;

-- With its partitions.
DROP TABLE audit_logs_partitioned;
