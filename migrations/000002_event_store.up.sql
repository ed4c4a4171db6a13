-- The event store: one append-only table, the source of truth.
-- It is also watermill's outbox: the projection runtime's subscriber reads this table
-- directly (eventstore.WatermillSchema), so every event is written once, not twice.
CREATE TABLE events (
    position       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id XID8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id       TEXT NOT NULL CHECK (length(event_id) = 26),
    stream_id      TEXT NOT NULL,
    stream_type    TEXT NOT NULL,
    version        BIGINT NOT NULL CHECK (version > 0),
    event_type     TEXT NOT NULL,
    schema_version INTEGER NOT NULL DEFAULT 1,
    payload        JSONB NOT NULL,
    metadata       JSONB NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL,
    hash           BYTEA NOT NULL,
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);
-- Readers page by the transaction-id horizon: (transaction_id, position).
CREATE INDEX events_horizon_idx ON events (transaction_id, position);

-- History is fact: rows are never updated or deleted by the application.
CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

-- The link of the per-stream hash chain: SHA-256 over the previous event's hash and
-- this event's content. jsonb's text form is canonical, so the hash is reproducible.
CREATE FUNCTION event_hash(prev BYTEA, event_id TEXT, stream_id TEXT, version BIGINT,
    event_type TEXT, schema_version INTEGER, payload JSONB, metadata JSONB,
    recorded_at TIMESTAMPTZ) RETURNS BYTEA
LANGUAGE sql STABLE AS $$
    SELECT sha256(coalesce(prev, ''::bytea) || convert_to(concat_ws(E'\x1f',
        event_id, stream_id, version::text, event_type, schema_version::text,
        payload::text, metadata::text,
        to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')), 'UTF8'))
$$;

-- Appends events to one stream in a single round trip. A stale expected version is
-- reported as a unique violation on events_stream_version_key, exactly like the race
-- that two concurrent appends lose at the unique index.
CREATE FUNCTION append_events(p_stream_id TEXT, p_stream_type TEXT, p_expected BIGINT,
    p_event_ids TEXT[], p_event_types TEXT[], p_schema_versions INTEGER[],
    p_payloads JSONB[], p_metadata JSONB[], p_recorded_at TIMESTAMPTZ)
RETURNS TABLE (last_position BIGINT, last_transaction_id XID8, last_version BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_version BIGINT;
    v_hash BYTEA;
BEGIN
    -- A new stream needs no lookup: if it exists after all, inserting version 1
    -- hits the unique index and reports the same conflict.
    IF p_expected > 0 THEN
        SELECT e.version, e.hash INTO v_version, v_hash
          FROM events e WHERE e.stream_id = p_stream_id
         ORDER BY e.version DESC LIMIT 1;
    END IF;
    v_version := coalesce(v_version, 0);
    IF v_version <> p_expected THEN
        RAISE EXCEPTION 'stream % is at version %, not %', p_stream_id, v_version, p_expected
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'events_stream_version_key';
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_event_ids, 1), 0) LOOP
        v_version := v_version + 1;
        v_hash := event_hash(v_hash, p_event_ids[i], p_stream_id, v_version, p_event_types[i],
            p_schema_versions[i], p_payloads[i], p_metadata[i], p_recorded_at);
        INSERT INTO events (event_id, stream_id, stream_type, version, event_type,
                            schema_version, payload, metadata, recorded_at, hash)
        VALUES (p_event_ids[i], p_stream_id, p_stream_type, v_version, p_event_types[i],
                p_schema_versions[i], p_payloads[i], p_metadata[i], p_recorded_at, v_hash)
        RETURNING position, transaction_id INTO last_position, last_transaction_id;
    END LOOP;
    last_version := v_version;
    RETURN NEXT;
END $$;
