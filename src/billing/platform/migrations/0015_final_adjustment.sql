-- Issue 16, point 7: usage of a closed account that started before its closing but arrived after its final
-- invoice was stored and never billed. The closer now keeps a closed account due after its final invoice, for
-- a final adjustment invoice of such late usage once the late limit of its closing cycle has passed. Accounts
-- whose final invoice went out before this change, with late usage still unbilled, are put back in that
-- state: next due the day after the closing (the closer then moves the date to the late-limit deadline).
UPDATE accounts a
SET next_cycle_start = (a.closed_at AT TIME ZONE 'UTC')::date + 1,
    next_cycle_end   = (a.closed_at AT TIME ZONE 'UTC')::date + 1
WHERE a.status = 'closed'
  AND a.next_cycle_start IS NULL
  AND EXISTS (
      SELECT 1 FROM cycle_usage cu
      WHERE cu.account_id = a.account_id
        AND cu.cycle_start <= (a.closed_at AT TIME ZONE 'UTC')::date
        AND cu.billable_units > cu.billed_units
  );
