-- Agent API: agents and their tokens, caller secrets, one-time codes, verification with a shared lockout,
-- delivered notifications, disputes opened by agents, and an append-only audit log.
-- Secrets are stored only as hashes: tokens as SHA-256 of 256 random bits, PINs and codes as salted scrypt.

CREATE TABLE agents (
    agent_id    text PRIMARY KEY,
    name        text        NOT NULL,
    role        text        NOT NULL CHECK (role IN ('agent', 'tier2', 'supervisor', 'analyst')),
    token_hash  text        NOT NULL UNIQUE,
    active      boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The PIN the customer chose; the one secret a caller gives unprompted.
CREATE TABLE caller_secrets (
    account_id  text PRIMARY KEY,
    pin_hash    text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One-time codes sent to the contact of record, valid for one call until they expire or are used.
CREATE TABLE one_time_codes (
    code_id     bigserial PRIMARY KEY,
    call_id     text        NOT NULL,
    account_id  text        NOT NULL,
    code_hash   text        NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX one_time_codes_call ON one_time_codes (call_id, expires_at) WHERE used_at IS NULL;

-- What was "sent" to a customer: the delivery channel reads from here (the tests read the code from here too).
CREATE TABLE notifications (
    notification_id bigserial PRIMARY KEY,
    account_id  text        NOT NULL,
    channel     text        NOT NULL CHECK (channel IN ('sms', 'email')),
    destination text        NOT NULL,
    body        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX notifications_unsent ON notifications (notification_id) WHERE sent_at IS NULL;

-- Lockout state per account, shared by every channel (phone, chat, callback, any agent): the row is locked
-- FOR UPDATE during an attempt so two parallel guesses cannot both slip under the limit.
CREATE TABLE verification_lockouts (
    account_id   text PRIMARY KEY,
    failures     integer     NOT NULL DEFAULT 0 CHECK (failures >= 0),
    locked_until timestamptz
);

CREATE TABLE verification_attempts (
    attempt_id  bigserial PRIMARY KEY,
    account_id  text        NOT NULL,
    call_id     text        NOT NULL,
    agent_id    text        NOT NULL,
    method      text        NOT NULL CHECK (method IN ('pin', 'code')),
    result      text        NOT NULL CHECK (result IN ('passed', 'failed', 'locked')),
    attempted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX verification_attempts_account ON verification_attempts (account_id, attempted_at);

-- A caller verified on a call; the account view is unmasked only for the call recorded here.
CREATE TABLE verifications (
    call_id     text PRIMARY KEY,
    account_id  text        NOT NULL,
    agent_id    text        NOT NULL,
    method      text        NOT NULL,
    verified_at timestamptz NOT NULL
);

-- Disputes opened through the API: the dispute id is derived from (task, invoice, line), so a retried request
-- finds its row here and emits nothing twice.
CREATE TABLE agent_disputes (
    dispute_id  text PRIMARY KEY,
    task_id     text        NOT NULL,
    agent_id    text        NOT NULL,
    account_id  text        NOT NULL,
    invoice_id  text        NOT NULL,
    line_id     text        NOT NULL,
    amount_minor bigint     NOT NULL CHECK (amount_minor > 0),
    currency    char(3)     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    audit_id    bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    request_id  text        NOT NULL,
    agent_id    text,                       -- null when the caller could not be authenticated
    action      text        NOT NULL,       -- the route name, e.g. tasks.claim
    method      text        NOT NULL,
    path        text        NOT NULL,
    status      integer     NOT NULL,
    result      text        NOT NULL,       -- ok, or the error code of the refusal
    account_id  text,
    task_id     text,
    call_id     text
);
CREATE INDEX audit_log_account ON audit_log (account_id, at);
CREATE INDEX audit_log_agent ON audit_log (agent_id, at);

-- Append-only for everyone, the table owner included (REVOKE would not bind the owner): a trigger refuses it.
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
