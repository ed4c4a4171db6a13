-- Background work runs on one node at a time: the node named in holder runs job
-- until expires_at, renewing it as it goes; once expires_at has passed, any node
-- may take the job over (cmd/internal/jobs). A row, not a session advisory lock,
-- so that it works through PgBouncer in transaction pooling mode.
CREATE TABLE job_leases (
    job         TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL
);

-- Events the relay to NATS JetStream could not publish (state parked), the later
-- events of the same stream held back behind them to keep the stream's order
-- (waiting), those an operator asked to publish again (retry) and those an
-- operator skipped (skipped, kept as a record). A published event leaves the table.
CREATE TABLE relay_parked (
    event_id       TEXT PRIMARY KEY,
    stream_id      TEXT NOT NULL,
    transaction_id XID8 NOT NULL,
    position       BIGINT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('parked', 'waiting', 'retry', 'skipped')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT NOT NULL DEFAULT '',
    parked_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX relay_parked_open_idx ON relay_parked (stream_id, transaction_id, position)
    WHERE state <> 'skipped';

-- The relay's place in the log as of its last batch. The JetStream stream itself
-- is the relay's position (its last message names it); this row only serves when
-- that message is gone (the stream's limits removed it), and for status and lag.
CREATE TABLE relay_position (
    singleton       BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    transaction_id  XID8 NOT NULL,
    position        BIGINT NOT NULL,
    stream_sequence BIGINT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
