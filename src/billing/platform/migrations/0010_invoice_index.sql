-- invoices_account duplicated the index behind UNIQUE (account_id, period_start): same columns, same order.
-- Every issued invoice paid for both; reads by account use the unique one.
DROP INDEX IF EXISTS invoices_account;
