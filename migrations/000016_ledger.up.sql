-- The ledger as landlords keep it (docs/rent.md, "Payments, credit and deposits";
-- docs/schema.md lists each addition with its reason).

-- A charge paid in part stays pending: what was paid of it (payments, credit, the
-- deposit) and what is left. Every charge projected before was paid whole or not
-- at all. balance is amount − amount_paid as the projector writes it; queries
-- compute it from the two (a row inserted by hand, as the RLS tests do, has none).
ALTER TABLE transactions
    ADD COLUMN amount_paid NUMERIC(10,2) NOT NULL DEFAULT 0,
    ADD COLUMN balance NUMERIC(10,2);
UPDATE transactions SET amount_paid = amount WHERE status IN ('completed', 'refunded');
UPDATE transactions SET balance = amount - amount_paid;

-- Payments, records of their own (stream type payment): how each was applied
-- (allocations: [{transaction_id, amount}]) and the credit it left.
CREATE TABLE payments (
    id               UUID PRIMARY KEY,
    lease_id         UUID NOT NULL REFERENCES leases(id),
    tenant_id        UUID REFERENCES tenants(id),
    amount           NUMERIC(10,2) NOT NULL CHECK (amount > 0),
    payment_date     DATE NOT NULL,
    payment_method   VARCHAR(50) NOT NULL,
    reference_number VARCHAR(100),
    applies_to       VARCHAR(20) NOT NULL,
    status           VARCHAR(20) NOT NULL,
    allocations      JSONB NOT NULL,
    credit           NUMERIC(10,2) NOT NULL CHECK (credit >= 0),
    returned_on      DATE,
    return_reason    TEXT,
    return_fee_id    UUID,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    version          BIGINT NOT NULL
);
CREATE INDEX idx_payments_lease ON payments (lease_id, created_at, id);

-- A lease's money held, one row once it has any (events on the lease's stream):
-- its credit (a prepayment, a liability) and its deposit. entries are the dated
-- movements the ledger shows: credit received, applied, unapplied, withdrawn and
-- refunded; deposit received, reversed and settled.
CREATE TABLE lease_accounts (
    lease_id          UUID PRIMARY KEY REFERENCES leases(id),
    credit            NUMERIC(10,2) NOT NULL CHECK (credit >= 0),
    deposit_received  NUMERIC(10,2) NOT NULL,
    deposit_held      NUMERIC(10,2) NOT NULL,
    deposit_forfeited NUMERIC(10,2) NOT NULL,
    deposit_refunded  NUMERIC(10,2) NOT NULL,
    deductions        JSONB NOT NULL,
    entries           JSONB NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);

-- Row-level security (migrations/000005): visible with the lease, as its
-- transactions are (domain/visibility.go).
GRANT SELECT ON payments, lease_accounts TO assetanchor_reader;
ALTER TABLE payments ENABLE ROW LEVEL SECURITY;
ALTER TABLE lease_accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY payments_visible ON payments FOR SELECT TO assetanchor_reader
    USING ((SELECT app_viewer_sees_all()) OR lease_id IN (SELECT f.id FROM app_owned_lease_ids() AS f(id)));
CREATE POLICY lease_accounts_visible ON lease_accounts FOR SELECT TO assetanchor_reader
    USING ((SELECT app_viewer_sees_all()) OR lease_id IN (SELECT f.id FROM app_owned_lease_ids() AS f(id)));
