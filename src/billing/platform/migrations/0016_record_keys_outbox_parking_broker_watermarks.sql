-- Issue 16, points 9, 24 and 25: one bill per call detail record, outbox rows the broker refuses, and a broker
-- that lost what it had acknowledged.

-- Mediation re-sends a call detail record under a new event id after a retry: the record is identified by its
-- source and record id too (both required by the schema, schemas/usage.py). Rows stored before this migration
-- that repeat an earlier (source, record_id) were billed twice; they stay (they are what was billed) but are
-- marked and left out of the key, so the key can be built on any existing database. The insert names this index
-- as its ON CONFLICT arbiter (streams/usage_store.py): a copy of a record, under its own event id or a new one,
-- is skipped. record_id leads: source is nearly the same for every row, and comparisons then decide on the first
-- column.
ALTER TABLE usage_events ADD COLUMN billed_twice boolean NOT NULL DEFAULT false;
UPDATE usage_events u SET billed_twice = true
    FROM (SELECT event_id, row_number() OVER (PARTITION BY source, record_id ORDER BY received_at, event_id) AS nth
          FROM usage_events) d
    WHERE d.event_id = u.event_id AND d.nth > 1;
CREATE UNIQUE INDEX usage_events_record ON usage_events (record_id, source) WHERE NOT billed_twice;

-- An outbox row the broker refuses for what it is (too large, say), not because the broker is away, is retried a
-- few times and then parked: it stays here, out of the relay's way, until an operator re-queues it
-- (`billing outbox replay`). attempts counts only such row-specific refusals.
ALTER TABLE outbox
    ADD COLUMN attempts   integer NOT NULL DEFAULT 0,
    ADD COLUMN last_error text,
    ADD COLUMN parked_at  timestamptz;

-- What the broker acknowledged for our rows, per topic and partition, written in the transaction that marks them
-- published. next_offset is one past the highest acknowledged offset: a later acknowledgement below it means the
-- broker lost data. floor_offset is one past the lowest offset of the latest pass: the embedded broker reports a
-- partition's end offset as its last batch's first offset plus one, so a reported end below floor_offset is a
-- loss whatever the batching. since: the first acknowledgement after the last loss (what a replay starts from).
CREATE TABLE outbox_offsets (
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    next_offset  bigint      NOT NULL,
    floor_offset bigint      NOT NULL,
    since        timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- Each time the relay finds the broker without data it had acknowledged. Open ones (resolved_at NULL) make every
-- worker's /health say degraded until `billing outbox replay` re-publishes the lost events.
CREATE TABLE broker_data_losses (
    id          bigserial   PRIMARY KEY,
    topic       text        NOT NULL,
    what        text        NOT NULL,
    lost_since  timestamptz,
    detected_at timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz
);
CREATE INDEX broker_data_losses_open ON broker_data_losses (topic) WHERE resolved_at IS NULL;
