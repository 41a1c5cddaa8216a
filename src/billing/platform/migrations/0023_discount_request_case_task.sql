-- Issue 14 point 3: a pending discount request remembers the customer's task it was asked on (the retention
-- case), so that approving it applies the holdout as the grant does: a practice withheld from a control-arm case
-- is refused. task_id is the approval task for a pending request; case_task_id is the case's own task. NULL for
-- requests recorded before this column (their approval has no case to check).
ALTER TABLE discount_requests ADD COLUMN case_task_id text;
