-- Login, signup and refresh rate limits, shared by every node of a deployment
-- (http/ratelimit.go): one token bucket per policy and key. The key is a hash
-- (an address, an email), never the value itself. Unlogged: after a crash
-- every bucket starts full, which only forgets recent attempts.
CREATE UNLOGGED TABLE rate_limits (
    key      BYTEA PRIMARY KEY,
    tokens   DOUBLE PRECISION NOT NULL,
    at       TIMESTAMPTZ NOT NULL,
    granted  BOOLEAN NOT NULL,
    -- when the bucket is full again: a full bucket is the same as none
    full_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX rate_limits_full_at ON rate_limits (full_at);
