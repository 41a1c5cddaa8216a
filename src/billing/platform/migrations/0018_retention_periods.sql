-- Issue 14, point 3: the retention experiment's periods. A plan (registered by its version and a hash of its
-- contents) and a holdout share make a period; the arm is drawn when a task is routed, stored per account and
-- period, and kept on the task, so that a case is judged in the period it was routed in, with that period's
-- rules. Cases and counters carry the period, and the report keeps periods apart (never summing arms drawn
-- with different shares). Cases recorded before this migration are in the period '' (the default plan).

CREATE TABLE retention_plans (
    plan_key      text PRIMARY KEY,          -- version#hash of the contents: a plan, once registered, never changes
    version       text        NOT NULL,
    plan          jsonb       NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE retention_periods (
    period           text PRIMARY KEY,       -- plan_key@<share>bp
    plan_key         text        NOT NULL,
    holdout_share_bp integer     NOT NULL CHECK (holdout_share_bp BETWEEN 1 AND 9999),
    started_at       timestamptz NOT NULL    -- event time of its first routed task (or registration)
);

-- The account's arm in a period: drawn once, at the routing of its first task in the period.
CREATE TABLE retention_arms (
    period      text        NOT NULL,
    account_id  text        NOT NULL,
    arm         text        NOT NULL CHECK (arm IN ('treatment', 'control')),
    task_id     text        NOT NULL,         -- the task whose routing drew it
    assigned_at timestamptz NOT NULL,
    PRIMARY KEY (period, account_id)
);

ALTER TABLE tasks ADD COLUMN period text;  -- set with `arm` at routing for customer contacts

ALTER TABLE retention_cases ADD COLUMN period text NOT NULL DEFAULT '';

ALTER TABLE retention_counts ADD COLUMN period text NOT NULL DEFAULT '';
ALTER TABLE retention_counts DROP CONSTRAINT retention_counts_pkey,
    ADD PRIMARY KEY (period, practice, arm, horizon_days, wait_bucket_s);

ALTER TABLE retention_money ADD COLUMN period text NOT NULL DEFAULT '';
ALTER TABLE retention_money DROP CONSTRAINT retention_money_pkey,
    ADD PRIMARY KEY (period, practice, arm, horizon_days, currency);

ALTER TABLE retention_survival ADD COLUMN period text NOT NULL DEFAULT '';
ALTER TABLE retention_survival DROP CONSTRAINT retention_survival_pkey,
    ADD PRIMARY KEY (period, practice, arm, day);
