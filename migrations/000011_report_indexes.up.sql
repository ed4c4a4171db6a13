-- The aging report (docs/reports.md) reads the charges unpaid on a day: those
-- still open, found by status, and those settled after that day, found by these
-- two partial indexes (a payment date or a closing day after it), instead of
-- every charge ever due.
-- A payment date is set exactly while a charge is completed or refunded. (A
-- predicate on status would be deparsed differently by the rebuild's copy of
-- the table, which compares index definitions.)
CREATE INDEX transactions_paid_on_idx ON transactions (payment_date) WHERE payment_date IS NOT NULL;
CREATE INDEX transactions_closed_on_idx ON transactions (closed_on) WHERE closed_on IS NOT NULL;
