-- audit_logs partitioned by month (RANGE on created_at), as the seed's performance
-- notes suggest: one row per event makes it the largest table, and old months can
-- then be archived or dropped a partition at a time.
--
-- PostgreSQL cannot turn a table into a partitioned one, so the rows move into a
-- new table of the same columns, indexes, row-level security and grants.
--
-- The primary key becomes (id, created_at): every unique constraint of a
-- partitioned table must contain the partition key, because each partition
-- enforces it on its own rows only. id stays unique in fact: it is derived from
-- the event's id, which events_event_id_key keeps unique (docs/schema.md).

ALTER TABLE audit_logs RENAME TO audit_logs_unpartitioned;
-- Index names are per schema: free the seed's names for the new table (fewer
-- indexes also make the copy faster).
DROP INDEX idx_audit_user, idx_audit_entity, idx_audit_action, idx_audit_created;
ALTER TABLE audit_logs_unpartitioned DROP CONSTRAINT audit_logs_pkey, DROP CONSTRAINT audit_logs_user_id_fkey;

CREATE TABLE audit_logs (
    id UUID NOT NULL DEFAULT uuid_generate_v4(),
    user_id UUID REFERENCES users(id),
    action VARCHAR(50) NOT NULL,
    entity_type VARCHAR(50) NOT NULL,
    entity_id UUID,
    old_values JSONB,
    new_values JSONB,
    ip_address VARCHAR(45),
    user_agent TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT audit_logs_pkey PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX idx_audit_user ON audit_logs(user_id);
CREATE INDEX idx_audit_entity ON audit_logs(entity_type, entity_id);
CREATE INDEX idx_audit_action ON audit_logs(action);
CREATE INDEX idx_audit_created ON audit_logs(created_at);

-- Rows of a month without its partition land here, so that an insert never
-- fails (a log imported from years back, a clock far in the future). The
-- service creates the coming months' partitions daily, so in practice it holds
-- only rows beyond them; ensure_audit_partitions moves rows out of it.
CREATE TABLE audit_logs_default PARTITION OF audit_logs DEFAULT;

-- create_audit_partition creates the partition of the month that holds day,
-- audit_logs_YYYY_MM, unless it exists, and reports whether it did. PostgreSQL
-- refuses a partition whose range has rows in the default partition: those rows
-- move into the new partition first (the default is detached meanwhile, so that
-- the move is one DELETE ... INSERT, not a copy through a scratch table).
-- created_at holds UTC (the projector writes each event's recorded_at in UTC).
CREATE FUNCTION create_audit_partition(day date) RETURNS boolean LANGUAGE plpgsql
    SET search_path = pg_catalog, public
AS $$
DECLARE
    lo timestamp := date_trunc('month', day::timestamp);
    hi timestamp := date_trunc('month', day::timestamp) + interval '1 month';
    part text := 'audit_logs_' || to_char(date_trunc('month', day::timestamp), 'YYYY_MM');
    waiting boolean;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_inherits
               WHERE inhparent = 'public.audit_logs'::regclass AND inhrelid = to_regclass(format('public.%I', part))) THEN
        RETURN false;
    END IF;
    IF to_regclass(format('public.%I', part)) IS NOT NULL THEN
        RAISE EXCEPTION 'table public.% exists but is no partition of audit_logs (a detached month?): move it out of public', part;
    END IF;
    SELECT EXISTS (SELECT 1 FROM public.audit_logs_default WHERE created_at >= lo AND created_at < hi) INTO waiting;
    IF waiting THEN
        ALTER TABLE public.audit_logs DETACH PARTITION public.audit_logs_default;
    END IF;
    -- Bounds in ISO form, whatever the session's DateStyle.
    EXECUTE format('CREATE TABLE public.%I PARTITION OF public.audit_logs FOR VALUES FROM (%L) TO (%L)', part,
        to_char(lo, 'YYYY-MM-DD'), to_char(hi, 'YYYY-MM-DD'));
    IF waiting THEN
        EXECUTE format('WITH moved AS (DELETE FROM public.audit_logs_default WHERE created_at >= $1 AND created_at < $2 RETURNING *)
            INSERT INTO public.%I SELECT * FROM moved', part) USING lo, hi;
        ALTER TABLE public.audit_logs ATTACH PARTITION public.audit_logs_default DEFAULT;
    END IF;
    RETURN true;
END
$$;

-- ensure_audit_partitions creates the partitions of every month from the
-- current one (UTC) through the month of through, and of every earlier month
-- that has rows waiting in the default partition; it returns how many it
-- created. serve calls it at start and daily; concurrent callers take turns.
CREATE FUNCTION ensure_audit_partitions(through date) RETURNS integer LANGUAGE plpgsql
    SET search_path = pg_catalog, public
AS $$
DECLARE
    month date;
    created integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('public.ensure_audit_partitions'));
    FOR month IN
        SELECT m::date FROM generate_series(date_trunc('month', now() AT TIME ZONE 'UTC'),
            date_trunc('month', through::timestamp), interval '1 month') AS m
        UNION
        SELECT DISTINCT date_trunc('month', created_at)::date FROM public.audit_logs_default
        WHERE created_at < date_trunc('month', through::timestamp) + interval '1 month'
        ORDER BY 1
    LOOP
        IF public.create_audit_partition(month) THEN
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END
$$;

-- Only the tables' owner (the connecting role) can create partitions anyway.
REVOKE EXECUTE ON FUNCTION create_audit_partition(date), ensure_audit_partitions(date) FROM PUBLIC;

-- A partition for every month that has rows, then the coming months, then the rows.
SELECT create_audit_partition(m) FROM (SELECT DISTINCT date_trunc('month', created_at)::date AS m
    FROM audit_logs_unpartitioned) months ORDER BY m;
SELECT ensure_audit_partitions(((now() AT TIME ZONE 'UTC') + interval '3 months')::date);
INSERT INTO audit_logs (id, user_id, action, entity_type, entity_id, old_values, new_values,
    ip_address, user_agent, created_at)
SELECT id, user_id, action, entity_type, entity_id, old_values, new_values,
    ip_address, user_agent, created_at
FROM audit_logs_unpartitioned;

-- The same row-level security and grants as before (migrations/000005), copied
-- from the old table's catalog so that they cannot drift from it. Queries read
-- through the parent, where the policy applies; the partitions carry no grants,
-- so the reader cannot read one directly and pass the policy by.
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
        FROM pg_policy p WHERE p.polrelid = 'audit_logs_unpartitioned'::regclass
        UNION ALL
        SELECT format('GRANT %s ON audit_logs TO %s', a.privilege_type,
            CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END)
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = 'audit_logs_unpartitioned'::regclass AND a.grantee <> c.relowner
    LOOP
        EXECUTE stmt;
    END LOOP;
END
$$;

DROP TABLE audit_logs_unpartitioned;
