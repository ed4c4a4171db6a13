-- Tenant personal data (DESIGN.md, Security).
--
-- Each tenant's data key, wrapped (AES-256-GCM) by the master key, which never
-- enters the database. master_key_id names the master key that wrapped it (a
-- SHA-256 fingerprint), so a server started with another master key refuses to
-- start instead of failing tenant by tenant. The row is written in the same
-- transaction as TenantRegistered; erasure deletes it (crypto-shredding).
CREATE TABLE tenant_keys (
    tenant_id     UUID PRIMARY KEY,
    wrapped_key   BYTEA NOT NULL,
    master_key_id TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    rewrapped_at  TIMESTAMPTZ
);
-- Nobody but the owner of the schema (the service's own role) reads keys.
REVOKE ALL ON tenant_keys FROM PUBLIC;

-- The one documented deviation from the seed: ssn_last_four holds the value
-- sealed with the tenant's data key, not the four digits.
ALTER TABLE tenants ALTER COLUMN ssn_last_four TYPE VARCHAR(255);
