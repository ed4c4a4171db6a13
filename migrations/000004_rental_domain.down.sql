DROP TABLE IF EXISTS lease_reservations;
DROP EXTENSION IF EXISTS btree_gist;
DROP INDEX IF EXISTS leases_active_end_idx;
DROP INDEX IF EXISTS transactions_pending_due_idx;
ALTER TABLE leases DROP COLUMN IF EXISTS termination_reason;
ALTER TABLE leases DROP COLUMN IF EXISTS terminated_on;
DROP INDEX IF EXISTS tenants_registered_by_idx;
ALTER TABLE tenants DROP COLUMN IF EXISTS registered_by;
