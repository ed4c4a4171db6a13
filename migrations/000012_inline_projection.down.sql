-- Back to the asynchronous relational projector: its checkpoint starts at the
-- newest event, which the inline projection has applied already.
DROP FUNCTION append_events(TEXT, TEXT, BIGINT, TEXT[], TEXT[], INTEGER[], JSONB[], JSONB[], TIMESTAMPTZ);
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
INSERT INTO projector_checkpoints (projector, transaction_id, position, events_applied, last_event_at)
SELECT 'relational', coalesce(max(transaction_id), '0'), coalesce(max(position), 0), count(*), max(recorded_at)
  FROM events;
INSERT INTO watermill_offsets_events (consumer_group, offset_acked, last_processed_transaction_id)
SELECT 'relational', coalesce(max(position), 0), coalesce(max(transaction_id), '0') FROM events;
