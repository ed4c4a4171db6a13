-- Rent automation (docs/rent.md): late-fee policies of properties and leases, the
-- day a charge stopped being owed, and a partial index to list the streams of a type.

-- A property's late-fee policy, and a lease's own policy that overrides it; one row
-- each at most, projected from PropertyLateFeePolicySet and LeaseLateFeePolicySet.
-- The checks repeat the domain's rules (domain/latefee.go), which refuse first.
CREATE TABLE property_late_fee_policies (
    property_id UUID PRIMARY KEY REFERENCES properties(id),
    grace_days  INTEGER NOT NULL CHECK (grace_days BETWEEN 0 AND 90),
    flat_amount NUMERIC(10,2) CHECK (flat_amount >= 0),
    percent     NUMERIC(5,2) CHECK (percent BETWEEN 0 AND 100),
    monthly_cap NUMERIC(10,2) CHECK (monthly_cap >= 0),
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    CONSTRAINT property_late_fee_policies_one_fee CHECK ((flat_amount IS NULL) <> (percent IS NULL))
);

CREATE TABLE lease_late_fee_policies (
    lease_id    UUID PRIMARY KEY REFERENCES leases(id),
    grace_days  INTEGER NOT NULL CHECK (grace_days BETWEEN 0 AND 90),
    flat_amount NUMERIC(10,2) CHECK (flat_amount >= 0),
    percent     NUMERIC(5,2) CHECK (percent BETWEEN 0 AND 100),
    monthly_cap NUMERIC(10,2) CHECK (monthly_cap >= 0),
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    CONSTRAINT lease_late_fee_policies_one_fee CHECK ((flat_amount IS NULL) <> (percent IS NULL))
);

-- The day a charge was voided, waived or written off (statuses void, waived,
-- written_off); NULL for every other charge. With due_date and payment_date it
-- gives a lease's balance as of any past day.
ALTER TABLE transactions ADD COLUMN closed_on DATE;

-- The first event of every stream, by type: the rent schedule lists every lease
-- from the event store (not the read model, which may lag).
CREATE INDEX events_stream_starts_idx ON events (stream_type, stream_id) WHERE version = 1;

-- Row-level security (migrations/000005): a policy is visible with its property or
-- lease, whose own policies apply to the subqueries.
GRANT SELECT ON property_late_fee_policies, lease_late_fee_policies TO assetanchor_reader;
ALTER TABLE property_late_fee_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE lease_late_fee_policies ENABLE ROW LEVEL SECURITY;
CREATE POLICY property_late_fee_policies_visible ON property_late_fee_policies FOR SELECT TO assetanchor_reader
    USING (EXISTS (SELECT 1 FROM properties p WHERE p.id = property_late_fee_policies.property_id));
CREATE POLICY lease_late_fee_policies_visible ON lease_late_fee_policies FOR SELECT TO assetanchor_reader
    USING (EXISTS (SELECT 1 FROM leases l WHERE l.id = lease_late_fee_policies.lease_id));
