-- Disputes and discounts within authority (issue 5): the dispute lifecycle, credit notes with gap-free numbers,
-- discount requests waiting for a second person, the budget each grant was charged to, idempotency keys.

-- The ledger's `disputes` row keeps its coarse status (open | credited | rejected); `stage` is the lifecycle
-- (streams/disputes/lifecycle.py) and `held_minor` the amount held back while the dispute is open.
ALTER TABLE disputes
    ADD COLUMN stage text NOT NULL DEFAULT 'opened'
        CHECK (stage IN ('opened', 'routed', 'in_review', 'credited', 'rejected')),
    ADD COLUMN held_minor bigint NOT NULL DEFAULT 0 CHECK (held_minor >= 0),
    ADD COLUMN reviewer_agent_id text,
    ADD COLUMN resolve_ms bigint CHECK (resolve_ms >= 0);
UPDATE disputes SET stage = status, held_minor = 0 WHERE status <> 'open';
UPDATE disputes SET held_minor = amount_minor WHERE status = 'open';

-- One row per step a dispute took; the event id is the idempotency key of the step.
CREATE TABLE dispute_transitions (
    dispute_id text        NOT NULL,
    stage      text        NOT NULL,
    agent_id   text,
    event_id   text        NOT NULL UNIQUE,
    at         timestamptz NOT NULL,
    PRIMARY KEY (dispute_id, stage)
);

-- Credit notes: documents reducing one issued invoice. Numbered gap-free per series and year through the
-- invoice_series counter (series 'CN-<year>'), in the issuing transaction. One per grant: a dispute credit is
-- the grant 'dispute:<dispute_id>', so neither can be credited twice.
CREATE TABLE credit_notes (
    credit_note_id     text PRIMARY KEY,
    credit_note_number text        NOT NULL UNIQUE,
    grant_id           text        NOT NULL UNIQUE,
    dispute_id         text UNIQUE,
    account_id         text        NOT NULL,
    invoice_id         text        NOT NULL,
    amount_minor       bigint      NOT NULL CHECK (amount_minor > 0),
    currency           char(3)     NOT NULL,
    reason             text        NOT NULL,
    issued_by          text        NOT NULL,
    issued_at          timestamptz NOT NULL
);
CREATE INDEX credit_notes_invoice ON credit_notes (invoice_id);
CREATE INDEX credit_notes_account ON credit_notes (account_id, issued_at);

-- Requests above the requester's authority wait here for a different person with enough authority; the
-- snapshot (value, customer standing) is what the approval re-checks. Refused requests keep the rule.
CREATE TABLE discount_requests (
    request_id            text PRIMARY KEY,
    account_id            text        NOT NULL,
    task_id               text,
    kind                  text        NOT NULL,
    currency              char(3)     NOT NULL,
    amount_minor          bigint CHECK (amount_minor > 0),
    percent_bp            integer,
    invoice_count         integer,
    invoice_id            text,
    reason_code           text        NOT NULL,
    criteria              text[]      NOT NULL,
    requested_by          text        NOT NULL,
    requester_role        text        NOT NULL,
    value_minor           bigint      NOT NULL CHECK (value_minor >= 0),
    customer_since        timestamptz NOT NULL,
    overdue_invoice_count integer     NOT NULL,
    average_invoice_minor bigint      NOT NULL,
    exceeded              jsonb       NOT NULL DEFAULT '[]',
    status                text        NOT NULL CHECK (status IN ('pending', 'approved', 'refused')),
    decided_by            text,
    refusal_rule          text,
    refusal_reason        text,
    requested_at          timestamptz NOT NULL,
    decided_at            timestamptz,
    CHECK (decided_by IS NULL OR decided_by <> requested_by)
);
CREATE INDEX discount_requests_pending ON discount_requests (requested_at) WHERE status = 'pending';
CREATE INDEX discount_requests_account ON discount_requests (account_id, requested_at);

-- Every grant decided here, with its money value and the one person whose monthly budget it was charged to
-- (the requester within their authority, else the approver). The authority history is read from this table.
CREATE TABLE discount_budget_charges (
    grant_id     text PRIMARY KEY,
    account_id   text        NOT NULL,
    kind         text        NOT NULL,
    currency     char(3)     NOT NULL,
    value_minor  bigint      NOT NULL CHECK (value_minor >= 0),
    requested_by text        NOT NULL,
    approved_by  text,
    charged_to   text        NOT NULL,
    granted_at   timestamptz NOT NULL,
    CHECK (approved_by IS NULL OR approved_by <> requested_by),
    CHECK (charged_to = coalesce(approved_by, requested_by))
);
CREATE INDEX discount_budget_charges_agent ON discount_budget_charges (charged_to, granted_at);
CREATE INDEX discount_budget_charges_account ON discount_budget_charges (account_id, granted_at);

-- Monthly budget used per person (calendar months in UTC, as in streams/authority/grants.py).
CREATE VIEW agent_budget_usage AS
SELECT charged_to AS agent_id, currency, date_trunc('month', granted_at AT TIME ZONE 'UTC')::date AS month,
       sum(value_minor)::bigint AS used_minor, count(*) AS grants
FROM discount_budget_charges GROUP BY 1, 2, 3;

-- Idempotency keys of money-moving agent actions: same key + same request -> the stored response; same key +
-- a different request -> refused. Written in the transaction of the action itself.
CREATE TABLE idempotency_keys (
    agent_id     text        NOT NULL,
    key          text        NOT NULL,
    action       text        NOT NULL,
    request_hash text        NOT NULL,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, key)
);
