-- Foundation: idempotency keys, dead letters, the outbox, and one projection per event stream.
-- Every effect of an event is written in the same transaction as its idempotency key.

CREATE TABLE processed_events (
    event_id      text PRIMARY KEY,
    event_type    text        NOT NULL,
    source_topic  text        NOT NULL,
    partition     integer     NOT NULL,
    "offset"      bigint      NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dead_letters (
    id            bigserial PRIMARY KEY,
    source_topic  text        NOT NULL,
    partition     integer     NOT NULL,
    "offset"      bigint      NOT NULL,
    error_kind    text        NOT NULL,
    reason        text        NOT NULL,
    original_key  bytea,
    original_value bytea      NOT NULL,
    failed_at     timestamptz NOT NULL DEFAULT now(),
    -- A redelivered bad message is dead-lettered once: its position is its identity.
    UNIQUE (source_topic, partition, "offset")
);

-- Transactional outbox: events to publish are written with the effect that caused them, then relayed.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    topic         text        NOT NULL,
    key           bytea,
    value         bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE accounts (
    account_id         text PRIMARY KEY,
    plan_id            text        NOT NULL,
    billing_anchor_day smallint    NOT NULL CHECK (billing_anchor_day BETWEEN 1 AND 28),
    currency           char(3)     NOT NULL,
    jurisdiction       text        NOT NULL,
    contact            jsonb       NOT NULL,
    status             text        NOT NULL CHECK (status IN ('active', 'closed')),
    opened_at          timestamptz NOT NULL,
    closed_at          timestamptz,
    close_reason       text
);

CREATE TABLE account_plan_changes (
    event_id     text PRIMARY KEY,
    account_id   text        NOT NULL REFERENCES accounts (account_id),
    plan_id      text        NOT NULL,
    effective_at timestamptz NOT NULL
);
CREATE INDEX account_plan_changes_account ON account_plan_changes (account_id, effective_at);

CREATE TABLE usage_events (
    event_id     text PRIMARY KEY,
    account_id   text        NOT NULL,
    record_id    text        NOT NULL,
    service      text        NOT NULL,
    quantity     bigint      NOT NULL CHECK (quantity >= 0),
    unit         text        NOT NULL,
    started_at   timestamptz NOT NULL,
    occurred_at  timestamptz NOT NULL,
    source       text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_events_account ON usage_events (account_id, started_at);

CREATE TABLE invoices_issued (
    invoice_id     text PRIMARY KEY,
    account_id     text        NOT NULL,
    invoice_number text        NOT NULL,
    period_start   date        NOT NULL,
    period_end     date        NOT NULL,
    currency       char(3)     NOT NULL,
    total_minor    bigint      NOT NULL,
    issued_at      timestamptz NOT NULL,
    due_date       date        NOT NULL,
    lines          jsonb       NOT NULL
);
CREATE INDEX invoices_issued_account ON invoices_issued (account_id, period_start);

CREATE TABLE calls (
    call_id      text PRIMARY KEY,
    account_id   text        NOT NULL,
    reason       text        NOT NULL,
    channel      text        NOT NULL,
    invoice_id   text,
    started_at   timestamptz NOT NULL,
    answered_at  timestamptz,
    agent_id     text,
    abandoned_at timestamptz,
    ended_at     timestamptz,
    outcome      text
);
CREATE INDEX calls_account ON calls (account_id, started_at);

CREATE TABLE disputes (
    dispute_id     text PRIMARY KEY,
    account_id     text        NOT NULL,
    invoice_id     text        NOT NULL,
    line_id        text,
    amount_minor   bigint      NOT NULL CHECK (amount_minor > 0),
    currency       char(3)     NOT NULL,
    reason         text        NOT NULL,
    status         text        NOT NULL CHECK (status IN ('open', 'credited', 'rejected')),
    opened_at      timestamptz NOT NULL,
    resolved_at    timestamptz,
    credit_minor   bigint,
    resolution_note text
);
CREATE INDEX disputes_account ON disputes (account_id);

CREATE TABLE discount_grants (
    grant_id      text PRIMARY KEY,
    account_id    text        NOT NULL,
    kind          text        NOT NULL,
    percent_bp    integer,
    invoice_count integer,
    amount_minor  bigint,
    currency      char(3),
    invoice_id    text,
    reason_code   text        NOT NULL,
    criteria      text[]      NOT NULL,
    granted_by    text        NOT NULL,
    approved_by   text,
    granted_at    timestamptz NOT NULL
);
CREATE INDEX discount_grants_account ON discount_grants (account_id, granted_at);
