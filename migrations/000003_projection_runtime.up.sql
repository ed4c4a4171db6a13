-- watermill-sql's PostgreSQL offsets table for the "events" topic, in the exact shape
-- its DefaultPostgreSQLOffsetsAdapter expects (one row per consumer group).
CREATE TABLE watermill_offsets_events (
    consumer_group VARCHAR(255) NOT NULL PRIMARY KEY,
    offset_acked BIGINT,
    last_processed_transaction_id XID8 NOT NULL
);

-- One row per projector, written in the same transaction as its read-model changes.
-- (transaction_id, position) is the last applied event; commands wait on it for
-- read-your-writes, and operators read lag from it.
CREATE TABLE projector_checkpoints (
    projector      TEXT PRIMARY KEY,
    transaction_id XID8 NOT NULL DEFAULT '0',
    position       BIGINT NOT NULL DEFAULT 0,
    events_applied BIGINT NOT NULL DEFAULT 0,
    last_event_at  TIMESTAMPTZ,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Stored 2xx answers to POST requests that carried an Idempotency-Key (kept 24 h).
CREATE TABLE idempotency_keys (
    user_id       UUID NOT NULL,
    key           TEXT NOT NULL,
    request_hash  BYTEA NOT NULL,
    status        INTEGER,
    header        JSONB,
    body          BYTEA,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Cross-stream uniqueness (for example one account per email, ignoring case): a
-- command inserts its claim in the same transaction as its append, so a racing
-- duplicate fails at the primary key and writes nothing.
CREATE TABLE unique_claims (
    scope      TEXT NOT NULL,
    value      TEXT NOT NULL,
    stream_id  TEXT NOT NULL,
    PRIMARY KEY (scope, value)
);

-- The version column: each entity's stream version, for ETag / If-Match.
ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE properties ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE leases ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE transactions ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE documents ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE maintenance_requests ADD COLUMN version BIGINT NOT NULL DEFAULT 0;

-- Emails are unique regardless of case (API.md); the seed's UNIQUE(email) stays too.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
-- Sessions end by logout or revocation before they expire.
ALTER TABLE user_sessions ADD COLUMN revoked_at TIMESTAMP;
