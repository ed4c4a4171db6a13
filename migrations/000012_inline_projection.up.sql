-- The relational read model is now written inline, in the transaction of each
-- append (docs/architecture.md). The projector that used to apply it
-- asynchronously is gone, and so are its checkpoint and watermill offset.
DELETE FROM projector_checkpoints WHERE projector = 'relational';
DELETE FROM watermill_offsets_events WHERE consumer_group = 'relational';

-- append_events now returns every appended event's place in the log, and takes
-- the writers' lock shared (eventstore/unit.go, writersLockKey) before anything
-- else, so that an append sent on its own is still kept apart from a rebuild's swap.
DROP FUNCTION append_events(TEXT, TEXT, BIGINT, TEXT[], TEXT[], INTEGER[], JSONB[], JSONB[], TIMESTAMPTZ);
CREATE FUNCTION append_events(p_stream_id TEXT, p_stream_type TEXT, p_expected BIGINT,
    p_event_ids TEXT[], p_event_types TEXT[], p_schema_versions INTEGER[],
    p_payloads JSONB[], p_metadata JSONB[], p_recorded_at TIMESTAMPTZ)
RETURNS TABLE (event_position BIGINT, event_transaction_id XID8, event_version BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_version BIGINT;
    v_hash BYTEA;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(4707197592763715139);
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
        RETURNING position, transaction_id INTO event_position, event_transaction_id;
        event_version := v_version;
        RETURN NEXT;
    END LOOP;
END $$;
