-- Agent queues: one row per task (a call, a dispute, a held invoice, a discount approval waiting for a person).
-- The row is the live assignment state; every transition also writes a task event to the outbox in the same
-- transaction (streams/queues/store.py). source_event_id makes routing idempotent: a replayed event finds its
-- task already there and creates no second one.

CREATE TABLE tasks (
    task_id           text PRIMARY KEY,
    kind              text        NOT NULL CHECK (kind IN ('call', 'dispute', 'held_invoice', 'discount_approval')),
    source_event_id   text        NOT NULL UNIQUE,
    account_id        text        NOT NULL,
    call_id           text,
    dispute_id        text,
    invoice_id        text,
    reason            text        NOT NULL,
    rule              text        NOT NULL,
    queue             text        NOT NULL,
    -- The queue first, then every pool widening has added (streams/care/widening.py); claims match on this.
    eligible_queues   text[]      NOT NULL,
    tier              smallint    NOT NULL CHECK (tier IN (1, 2)),
    -- Priority without the aging term (fixed at routing); `priority` = this + aging, refreshed by the sweeper.
    static_priority   integer     NOT NULL,
    priority          integer     NOT NULL,
    disputed_amount_minor bigint CHECK (disputed_amount_minor > 0),
    currency          char(3),
    state             text        NOT NULL DEFAULT 'queued'
                      CHECK (state IN ('queued', 'reserved', 'accepted', 'wrapping', 'completed', 'cancelled')),
    holder_agent_id   text,
    lease_expires_at  timestamptz,
    routed_at         timestamptz NOT NULL,
    claimed_at        timestamptz,
    accepted_at       timestamptz,
    wrapping_at       timestamptz,
    completed_at      timestamptz,
    cancelled_at      timestamptz,
    cancel_cause      text,
    outcome           text,
    practice          text,
    arm               text,
    agent_tier        smallint,
    discount_minor    bigint CHECK (discount_minor >= 0),
    attempts          integer     NOT NULL DEFAULT 0,
    offers_rejected   integer     NOT NULL DEFAULT 0,
    offers_expired    integer     NOT NULL DEFAULT 0,
    -- A task is held by exactly one agent while reserved, accepted or wrapping, by nobody while it waits;
    -- a completed task keeps the agent who completed it.
    CHECK (state NOT IN ('reserved', 'accepted', 'wrapping', 'completed') OR holder_agent_id IS NOT NULL),
    CHECK (state NOT IN ('queued', 'cancelled') OR holder_agent_id IS NULL),
    CHECK ((state = 'reserved') = (lease_expires_at IS NOT NULL))
);

-- Claim next: highest priority, then oldest, among waiting tasks of a queue.
CREATE INDEX tasks_queued_order ON tasks (queue, priority DESC, routed_at, task_id) WHERE state = 'queued';
-- The same order across pools, for claims of widened work (eligible_queues overlaps the claimer's queues).
CREATE INDEX tasks_queued_any ON tasks (priority DESC, routed_at, task_id) WHERE state = 'queued';
CREATE INDEX tasks_reserved_lease ON tasks (lease_expires_at) WHERE state = 'reserved';
CREATE INDEX tasks_holder ON tasks (holder_agent_id, account_id) WHERE holder_agent_id IS NOT NULL;
CREATE INDEX tasks_account_open ON tasks (account_id) WHERE state IN ('queued', 'reserved', 'accepted', 'wrapping');
CREATE INDEX tasks_call ON tasks (call_id) WHERE call_id IS NOT NULL;
