-- Rating and invoicing: rated usage, per-cycle accumulators, parked usage, invoices with gap-free numbers.

-- Every usage row is rated when it is stored: the plan version in force at its start time, its cycle, and its
-- billable units after the rating increment. Allowances and tiers apply to the cycle's sum at close.
ALTER TABLE usage_events
    ADD COLUMN billable_units bigint,
    ADD COLUMN plan_id        text,
    ADD COLUMN plan_version   integer,
    ADD COLUMN cycle_start    date;
CREATE INDEX usage_events_cycle ON usage_events (account_id, cycle_start);

-- The opening is the first plan "change": the plan at time t is the latest row with effective_at <= t.
INSERT INTO account_plan_changes (event_id, account_id, plan_id, effective_at)
    SELECT 'opening:' || account_id, account_id, plan_id, opened_at FROM accounts
    ON CONFLICT DO NOTHING;

-- The next cycle to invoice for each account; the closer picks accounts whose cycle end (plus grace) has passed.
ALTER TABLE accounts
    ADD COLUMN next_cycle_start date,
    ADD COLUMN next_cycle_end   date;
CREATE INDEX accounts_next_cycle_end ON accounts (next_cycle_end);

-- Billable units per account, cycle, plan version and service; billed_units is what invoices already priced,
-- so usage that arrives after its cycle closed is the difference, billed on the next invoice as an adjustment.
CREATE TABLE cycle_usage (
    account_id     text    NOT NULL,
    cycle_start    date    NOT NULL,
    plan_id        text    NOT NULL,
    plan_version   integer NOT NULL,
    service        text    NOT NULL,
    billable_units bigint  NOT NULL CHECK (billable_units >= 0),
    events         bigint  NOT NULL CHECK (events >= 0),
    billed_units   bigint  NOT NULL DEFAULT 0 CHECK (billed_units >= 0),
    PRIMARY KEY (account_id, cycle_start, plan_id, plan_version, service)
);
CREATE INDEX cycle_usage_unbilled ON cycle_usage (account_id) WHERE billable_units > billed_units;

-- Usage whose account is not known yet (its account.opened may still be on its way on another topic).
-- A sweeper rates it once the account exists, or dead-letters it after USAGE_PARK_LIMIT_S.
CREATE TABLE parked_usage (
    event_id   text PRIMARY KEY,
    account_id text        NOT NULL,
    partition  integer     NOT NULL,
    "offset"   bigint      NOT NULL,
    key        bytea,
    value      bytea       NOT NULL,
    parked_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parked_usage_account ON parked_usage (account_id);

-- Highest usage event time seen per partition: the event-time clock that decides when a cycle may close.
CREATE TABLE usage_watermarks (
    partition      integer PRIMARY KEY,
    max_started_at timestamptz NOT NULL
);

-- Gap-free numbering: the counter row is updated in the issuing transaction, so a rollback returns the number.
CREATE TABLE invoice_series (
    series   text PRIMARY KEY,
    next_seq bigint NOT NULL CHECK (next_seq >= 1)
);

CREATE TABLE invoices (
    invoice_id     text PRIMARY KEY,
    account_id     text        NOT NULL REFERENCES accounts (account_id),
    period_start   date        NOT NULL,
    period_end     date        NOT NULL,
    status         text        NOT NULL CHECK (status IN ('issued', 'held')),
    invoice_number text UNIQUE,                 -- assigned when issued; a held invoice has none yet
    currency       char(3)     NOT NULL,
    subtotal_minor bigint      NOT NULL,
    discount_minor bigint      NOT NULL CHECK (discount_minor <= 0),
    tax_minor      bigint      NOT NULL CHECK (tax_minor >= 0),
    credit_minor   bigint      NOT NULL DEFAULT 0 CHECK (credit_minor <= 0),
    total_minor    bigint      NOT NULL CHECK (total_minor >= 0),
    lines          jsonb       NOT NULL,
    is_final       boolean     NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    issued_at      timestamptz,
    due_date       date,
    hold_reason    text,
    UNIQUE (account_id, period_start),
    CHECK ((status = 'issued') = (invoice_number IS NOT NULL))
);
CREATE INDEX invoices_account ON invoices (account_id, period_start);
CREATE INDEX invoices_held ON invoices (created_at) WHERE status = 'held';

-- Discounts applied to invoices: one row per grant and invoice, so a grant is never applied twice there.
CREATE TABLE grant_applications (
    grant_id     text   NOT NULL,
    invoice_id   text   NOT NULL REFERENCES invoices (invoice_id),
    amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
    PRIMARY KEY (grant_id, invoice_id)
);
