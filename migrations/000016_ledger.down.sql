DROP TABLE lease_accounts;
DROP TABLE payments;
ALTER TABLE transactions DROP COLUMN balance, DROP COLUMN amount_paid;
