-- Retention outcomes: handled cases followed 30, 60 and 90 days in event time, and the counters built from them.
-- Every write is keyed so that a replay, a duplicate or a second worker on the same partition changes nothing:
-- a case once (by task id), a closure once (the earliest), a clock that only moves forward, and each
-- (case, horizon) resolved once, with its counters updated in the same transaction as that marker.

-- One row per handled case (a task.completed.v1).
CREATE TABLE retention_cases (
    case_id          text PRIMARY KEY,              -- the task id: a task completes once
    source_event_id  text        NOT NULL UNIQUE,
    account_id       text        NOT NULL,
    partition        integer     NOT NULL,          -- of billing.task-events.v1 = of billing.accounts.v1 (same key)
    practice         text        NOT NULL,
    arm              text        NOT NULL CHECK (arm IN ('treatment', 'control', 'not_eligible')),
    queue            text        NOT NULL,
    kind             text        NOT NULL,
    agent_tier       smallint    NOT NULL,
    waited_ms        bigint      NOT NULL CHECK (waited_ms >= 0),
    discount_minor   bigint      NOT NULL CHECK (discount_minor >= 0),
    currency         char(3)     NOT NULL,
    case_at          timestamptz NOT NULL,
    resolved_through smallint    NOT NULL DEFAULT 0,  -- the longest horizon (days) already counted
    churn_day        integer,                          -- days from case to closure, once a horizon saw it
    next_due_at      timestamptz                       -- when the next horizon resolves; NULL when all have
);
CREATE INDEX retention_cases_due ON retention_cases (partition, next_due_at) WHERE next_due_at IS NOT NULL;

-- The earliest closure per account (account.closed.v1).
CREATE TABLE retention_closures (
    account_id text PRIMARY KEY,
    closed_at  timestamptz NOT NULL
);

-- Event-time clock per partition of billing.accounts.v1: the latest occurred_at seen there. A horizon resolves
-- only when the clock of the case's own partition passed it, so that partition's closures before it are known.
CREATE TABLE retention_clock (
    partition  integer PRIMARY KEY,
    event_time timestamptz NOT NULL
);

-- The resolved-horizon markers: (case, horizon) counted once.
CREATE TABLE retention_outcomes (
    case_id      text     NOT NULL REFERENCES retention_cases (case_id),
    horizon_days smallint NOT NULL,
    retained     boolean  NOT NULL,
    resolved_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, horizon_days)
);

-- Counters per practice, arm, horizon and 5-second wait bucket (streams/retention/counters.py).
CREATE TABLE retention_counts (
    practice      text     NOT NULL,
    arm           text     NOT NULL,
    horizon_days  smallint NOT NULL,
    wait_bucket_s integer  NOT NULL,
    cases         bigint   NOT NULL DEFAULT 0,
    retained      bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (practice, arm, horizon_days, wait_bucket_s)
);

-- Discount money of the cases counted per practice, arm and horizon (for the cost per retained customer).
CREATE TABLE retention_money (
    practice       text     NOT NULL,
    arm            text     NOT NULL,
    horizon_days   smallint NOT NULL,
    currency       char(3)  NOT NULL,
    discount_minor bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (practice, arm, horizon_days, currency)
);

-- Kaplan-Meier counts per practice and arm: churned or censored at a day after the case.
CREATE TABLE retention_survival (
    practice text    NOT NULL,
    arm      text    NOT NULL,
    day      integer NOT NULL,
    churned  bigint  NOT NULL DEFAULT 0,
    censored bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (practice, arm, day)
);
