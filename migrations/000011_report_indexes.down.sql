DROP INDEX transactions_closed_on_idx;
DROP INDEX transactions_paid_on_idx;
