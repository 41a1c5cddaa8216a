-- Retention counts a closure as churn with its cause (issue 13 point 4): account.closed.v1's reason (voluntary,
-- non_payment, fraud, other) of the account's earliest closure; NULL for closures recorded before this column.
ALTER TABLE retention_closures ADD COLUMN reason text;
