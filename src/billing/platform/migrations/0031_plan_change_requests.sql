-- A plan change above the requester's plan-change authority waits for a second person, as a discount above
-- authority waits in discount_requests (src/billing/discounts/plan_change_requests.py). Its approval task is the
-- authority's discount_approval task in the supervisors queue, so it is claimed, approved or refused and completed
-- like any other approval. A sibling table rather than more columns on discount_requests: a plan change has no
-- grant kind, value estimate, customer standing or budget charge, and its approval publishes another event.
CREATE TABLE plan_change_requests (
    request_id      text PRIMARY KEY,
    account_id      text        NOT NULL,
    case_task_id    text        NOT NULL,         -- the customer's task it was asked on
    task_id         text        NOT NULL UNIQUE,  -- its approval task
    currency        char(3)     NOT NULL,
    from_plan_id    text        NOT NULL,         -- the plan in force when it was asked for
    plan_id         text        NOT NULL,
    effective       text        NOT NULL CHECK (effective IN ('now', 'next_cycle')),
    reduction_minor bigint      NOT NULL CHECK (reduction_minor > 0),  -- how much less a month, when asked
    reason          text,                          -- the requester's, shown to the approver
    exceeded        jsonb       NOT NULL,
    requested_by    text        NOT NULL,
    requester_role  text        NOT NULL,
    requested_at    timestamptz NOT NULL,
    status          text        NOT NULL CHECK (status IN ('pending', 'approved', 'refused')),
    decided_by      text,
    decided_at      timestamptz,
    refusal_reason  text,
    answer          jsonb,                         -- the approval's answer, given again to a repeated approval
    CHECK (decided_by IS NULL OR decided_by <> requested_by),
    CHECK ((status = 'pending') = (decided_by IS NULL))
);
-- One plan change at a time waits per account: another change on it is refused until this one is decided.
CREATE UNIQUE INDEX plan_change_requests_one_pending ON plan_change_requests (account_id) WHERE status = 'pending';

-- The customer's task records the approval its request waits for (NULL: none), set in the request's transaction
-- and cleared in the decision's, so the desk and the API show that the answer is still to come.
ALTER TABLE tasks ADD COLUMN pending_approval_task_id text;
