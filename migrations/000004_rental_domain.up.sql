-- The rental domain: who registered a tenant (owner isolation), how a lease ended,
-- and the write-side guard that keeps active leases of one property from overlapping.
ALTER TABLE tenants ADD COLUMN registered_by UUID REFERENCES users(id);
CREATE INDEX tenants_registered_by_idx ON tenants (registered_by);

ALTER TABLE leases ADD COLUMN terminated_on DATE;
ALTER TABLE leases ADD COLUMN termination_reason TEXT;

-- The seed's overdue query filters pending charges by due date.
CREATE INDEX transactions_pending_due_idx ON transactions (due_date) WHERE status = 'pending';
-- The seed's active-lease and expiring-lease queries filter active leases by end date.
CREATE INDEX leases_active_end_idx ON leases (end_date) WHERE status = 'active';

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- One row per active lease, written in the same transaction as the lease's events.
-- The exclusion constraint makes an overlapping signing or renewal fail at commit
-- time, however many requests race.
CREATE TABLE lease_reservations (
    lease_id    UUID PRIMARY KEY,
    property_id UUID NOT NULL,
    period      DATERANGE NOT NULL,
    CONSTRAINT lease_reservations_no_overlap EXCLUDE USING gist (property_id WITH =, period WITH &&)
);
