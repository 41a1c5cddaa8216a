-- The usage hot path writes every usage row and updates a cycle total per (account, cycle, plan version,
-- service) for nearly every row; each index on those tables is paid for on every event (ops/bench/PROFILE.md).

-- No query reads usage_events by account: invoices, the agent API and the CLI read the cycle totals. The table
-- is the billed record of every event and the duplicate guard (its primary key). Whoever adds a per-account
-- read of raw usage (a dispute investigation tool, say) should add its index with it, or read a replica.
DROP INDEX IF EXISTS usage_events_account;
DROP INDEX IF EXISTS usage_events_cycle;

-- The closer reads an account's unbilled rows through the primary key (account_id leads it), so this partial
-- index served no query; and because its predicate names billable_units, every total update had to write new
-- entries in both indexes. Without it the updates are heap-only (HOT) when the page has room, which the lower
-- fill factor keeps for them.
DROP INDEX IF EXISTS cycle_usage_unbilled;
ALTER TABLE cycle_usage SET (fillfactor = 70);

-- Workers keep the account facts rating needs (anchor day, opening, closing, plan periods) in memory across
-- batches. changed_xid is the transaction that last changed those facts; a worker asks only for accounts changed
-- since the oldest transaction still running at its previous read (streams/account_cache.py). Plan changes
-- touch their account so one column answers for both tables.
ALTER TABLE accounts ADD COLUMN changed_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX accounts_changed_xid ON accounts (changed_xid);

CREATE FUNCTION accounts_mark_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed_xid := pg_current_xact_id();
    RETURN NEW;
END $$;
CREATE TRIGGER accounts_changed BEFORE INSERT OR UPDATE OF billing_anchor_day, opened_at, closed_at, plan_id
    ON accounts FOR EACH ROW EXECUTE FUNCTION accounts_mark_changed();

CREATE FUNCTION plan_change_marks_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE accounts SET changed_xid = pg_current_xact_id()
        WHERE account_id = CASE WHEN TG_OP = 'DELETE' THEN OLD.account_id ELSE NEW.account_id END;
    RETURN NULL;
END $$;
CREATE TRIGGER plan_change_marks_account AFTER INSERT OR UPDATE OR DELETE ON account_plan_changes
    FOR EACH ROW EXECUTE FUNCTION plan_change_marks_account();
