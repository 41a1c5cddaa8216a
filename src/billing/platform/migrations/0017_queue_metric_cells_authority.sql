-- Issue 16 leftover: the queue metric cells in PostgreSQL are the authority, the Faust table cells only a cache
-- of them (src/billing/care/metrics_consumer.py). A cell is rebuilt from its row when the cache is behind, so the
-- row keeps everything the cell has: besides the counters and the offset watermark, the event ids a window cell
-- has counted (event id -> offset), which catch a re-sent copy of an event at a new offset.
ALTER TABLE queue_stats_windows ADD COLUMN counted jsonb NOT NULL DEFAULT '{}';
