"""PostgreSQL side of the queue service metrics: publish cells (upsert, never backwards), read them back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import orjson

from billing.care.rules.metrics_report import Snapshot
from billing.care.rules.queue_metrics import stats_from_state

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ALL_TIME = 0  # window_s of the all-time cell


@dataclass(frozen=True)
class CellRow:
    queue: str
    window_s: int  # ALL_TIME for the all-time cell
    window_start: datetime  # EPOCH for the all-time cell
    partition: int
    stats: dict  # stats_to_state
    next_offset: int


# One statement, one round trip: the cells of an event are always distinct rows (a window and the all-time cell).
_UPSERT = """
INSERT INTO queue_stats_windows (queue, window_s, window_start, source_partition, stats, next_offset)
SELECT q, w, s, p, st::jsonb, o
  FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::int[], $5::text[], $6::bigint[]) AS t(q, w, s, p, st, o)
ON CONFLICT (queue, window_s, window_start, source_partition) DO UPDATE
   SET stats = EXCLUDED.stats, next_offset = EXCLUDED.next_offset, updated_at = now()
 WHERE queue_stats_windows.next_offset <= EXCLUDED.next_offset
"""


async def save_cells(pool: asyncpg.Pool, rows: Sequence[CellRow]) -> None:
    await pool.execute(
        _UPSERT,
        [r.queue for r in rows],
        [r.window_s for r in rows],
        [r.window_start for r in rows],
        [r.partition for r in rows],
        [orjson.dumps(r.stats).decode() for r in rows],
        [r.next_offset for r in rows],
    )


async def load_snapshots(pool: asyncpg.Pool, window_s: int, since: datetime) -> list[Snapshot]:
    """The all-time cells and the cells of windows starting at or after `since`."""
    rows = await pool.fetch(
        "SELECT queue, window_s, window_start, stats FROM queue_stats_windows"
        " WHERE window_s = $1 OR (window_s = $2 AND window_start >= $3)",
        ALL_TIME,
        window_s,
        since,
    )
    return [
        Snapshot(
            queue=r["queue"],
            window_start=None if r["window_s"] == ALL_TIME else r["window_start"],
            stats=stats_from_state(r["stats"]),
        )
        for r in rows
    ]


async def prune(pool: asyncpg.Pool, before: datetime) -> int:
    """Forget windows that started before `before` (past retention); the all-time cells stay."""
    status = await pool.execute(
        "DELETE FROM queue_stats_windows WHERE window_s <> $1 AND window_start < $2", ALL_TIME, before
    )
    return int(status.split()[-1])
