-- Queue service metrics: the cells every worker keeps in its Faust tables (streams/agents/queue_metrics.py),
-- published here so that any worker can answer for the whole group. A cell is one queue's counters from one
-- partition of billing.task-events.v1 over one tumbling window (window_s > 0) or over all time (window_s = 0,
-- window_start = epoch). One worker owns a partition at a time; the reader sums the partitions' cells.
CREATE TABLE queue_stats_windows (
    queue            text        NOT NULL,
    window_s         integer     NOT NULL CHECK (window_s >= 0),
    window_start     timestamptz NOT NULL,
    source_partition integer     NOT NULL CHECK (source_partition >= 0),
    stats            jsonb       NOT NULL,  -- streams.queues.metrics.stats_to_state
    -- Every record of the source partition below this offset is in `stats`; a write carrying a lower one is
    -- stale (a worker that lost the partition finishing late) and is ignored.
    next_offset      bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (queue, window_s, window_start, source_partition)
);
CREATE INDEX queue_stats_windows_recent ON queue_stats_windows (window_s, window_start);
