-- Collections (issue 13, src/billing/collections/): the per-account ledger, payments, the balance and invoice
-- standings derived from the ledger, the dunning steps taken, promises to pay; dunning notices in the
-- notifications outbox; collections calls as tasks.

-- One row per document: entry_id is "<kind>:<document id>", so a document recorded twice is one entry.
CREATE TABLE ledger_entries (
    entry_id     text PRIMARY KEY,
    account_id   text        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('invoice', 'credit_note', 'payment', 'refund', 'chargeback')),
    amount_minor bigint      NOT NULL CHECK (amount_minor >= 0),
    currency     char(3)     NOT NULL,
    at           timestamptz NOT NULL,                -- event time: issued, received, refunded, charged back
    invoice_id   text,
    payment_id   text,
    due_date     date,
    document     text,                                -- invoice number, provider reference: for the statement
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_account ON ledger_entries (account_id, at);

-- Payments as received (or failed), with what refunds and chargebacks took back of them: the refund bound.
CREATE TABLE payments (
    payment_id         text PRIMARY KEY,
    account_id         text        NOT NULL,
    status             text        NOT NULL CHECK (status IN ('received', 'failed')),
    amount_minor       bigint      NOT NULL CHECK (amount_minor > 0),
    currency           char(3)     NOT NULL,
    method             text        NOT NULL,
    provider_reference text        NOT NULL,
    at                 timestamptz NOT NULL,
    invoice_id         text,
    reason             text,
    reversed_minor     bigint      NOT NULL DEFAULT 0 CHECK (reversed_minor >= 0 AND reversed_minor <= amount_minor)
);
CREATE INDEX payments_account ON payments (account_id, at);

-- Derived from the ledger by the pure allocation after every entry (rewritten, never summed into).
CREATE TABLE account_collections (
    account_id     text PRIMARY KEY,
    currency       char(3)     NOT NULL,
    balance_minor  bigint      NOT NULL DEFAULT 0,
    open_minor     bigint      NOT NULL DEFAULT 0,
    credit_minor   bigint      NOT NULL DEFAULT 0,
    suspended_at   timestamptz,                       -- set by the suspend step, cleared by the restoring payment
    suspended_for  text,                              -- the invoice whose step suspended it
    closed_for_non_payment_at timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE collection_invoices (
    invoice_id     text PRIMARY KEY,
    account_id     text        NOT NULL,
    invoice_number text,
    currency       char(3)     NOT NULL,
    total_minor    bigint      NOT NULL CHECK (total_minor >= 0),
    credited_minor bigint      NOT NULL CHECK (credited_minor >= 0),
    paid_minor     bigint      NOT NULL CHECK (paid_minor >= 0),
    open_minor     bigint      NOT NULL CHECK (open_minor >= 0),
    due_date       date,
    issued_at      timestamptz NOT NULL
);
CREATE INDEX collection_invoices_account ON collection_invoices (account_id, due_date);
CREATE INDEX collection_invoices_open ON collection_invoices (due_date) WHERE open_minor > 0;

-- Each dunning step happens once per invoice: the step's effect commits with this row, and a second worker or a
-- rerun finds it there.
CREATE TABLE dunning_steps (
    invoice_id text        NOT NULL,
    step       text        NOT NULL,
    account_id text        NOT NULL,
    action     text        NOT NULL,
    at         timestamptz NOT NULL,                  -- event time of the step
    PRIMARY KEY (invoice_id, step)
);
CREATE INDEX dunning_steps_account ON dunning_steps (account_id);

CREATE TABLE payment_promises (
    promise_id   text PRIMARY KEY,
    account_id   text        NOT NULL,
    amount_minor bigint      NOT NULL CHECK (amount_minor > 0),
    currency     char(3)     NOT NULL,
    promised_for date        NOT NULL,
    made_at      timestamptz NOT NULL,
    made_by      text        NOT NULL
);
CREATE INDEX payment_promises_account ON payment_promises (account_id, promised_for);

-- Dunning notices are notifications too, with no code: kind says which the delivery channel is reading.
ALTER TABLE notifications ADD COLUMN kind text NOT NULL DEFAULT 'code' CHECK (kind IN ('code', 'dunning'));
CREATE INDEX notifications_dunning_pending ON notifications (notification_id) WHERE status = 'pending' AND kind = 'dunning';

ALTER TABLE tasks DROP CONSTRAINT tasks_kind_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_kind_check
    CHECK (kind IN ('call', 'dispute', 'held_invoice', 'discount_approval', 'collections'));
