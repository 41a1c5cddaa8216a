"""PostgreSQL side of the queue service metrics, the authority over the cells: write a cell only over the state it
was computed from (compare and set on the offset watermark), read cells back to rebuild a stale cache, and read
the figures for the reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import orjson

from billing.care.rules.metrics_report import Snapshot
from billing.care.rules.queue_metrics import Cell, cell_from_state, stats_from_state, stats_to_state

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ALL_TIME = 0  # window_s of the all-time cell


@dataclass(frozen=True)
class CellSlot:
    """Where a cell lives: its row's key."""

    queue: str
    window_s: int  # ALL_TIME for the all-time cell
    window_start: datetime  # EPOCH for the all-time cell
    partition: int


@dataclass(frozen=True)
class CellWrite:
    slot: CellSlot
    cell: Cell  # the new value
    expected_offset: int  # the next_offset of the value it was computed from (0: a cell not stored yet)


# One statement, one round trip, for the (at most two) cells of an event: each row is written only if it still
# holds the value the new one was computed from; the count of rows written tells whether all of them were.
_COMPARE_AND_SET = """
WITH input AS (
  SELECT * FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::int[], $5::text[], $6::text[], $7::bigint[],
                       $8::bigint[]) AS t(q, w, s, p, st, ct, o, expected)
), updated AS (
  UPDATE queue_stats_windows AS c
     SET stats = i.st::jsonb, counted = i.ct::jsonb, next_offset = i.o, updated_at = now()
    FROM input AS i
   WHERE i.expected > 0 AND c.next_offset = i.expected
     AND (c.queue, c.window_s, c.window_start, c.source_partition) = (i.q, i.w, i.s, i.p)
  RETURNING 1
), inserted AS (
  INSERT INTO queue_stats_windows (queue, window_s, window_start, source_partition, stats, counted, next_offset)
  SELECT q, w, s, p, st::jsonb, ct::jsonb, o FROM input WHERE expected = 0
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT (SELECT count(*) FROM updated) + (SELECT count(*) FROM inserted)
"""


async def save_cells(conn: asyncpg.Connection, writes: Sequence[CellWrite]) -> bool:
    """Write every cell, or none (False: a row moved on since its value was read; nothing is left written)."""
    slots = [w.slot for w in writes]
    try:
        async with conn.transaction():  # a savepoint: a half-written pair is undone
            written = await conn.fetchval(
                _COMPARE_AND_SET,
                [s.queue for s in slots],
                [s.window_s for s in slots],
                [s.window_start for s in slots],
                [s.partition for s in slots],
                [orjson.dumps(stats_to_state(w.cell.stats)).decode() for w in writes],
                [orjson.dumps(dict(w.cell.counted)).decode() for w in writes],
                [w.cell.next_offset for w in writes],
                [w.expected_offset for w in writes],
            )
            if written != len(writes):
                raise _Stale
    except _Stale:
        return False
    return True


class _Stale(Exception):
    pass


async def load_cells(conn: asyncpg.Connection, slots: Sequence[CellSlot]) -> dict[CellSlot, Cell]:
    """The stored cells (locked until the transaction ends, so they cannot move on again); a missing one is empty."""
    rows = await conn.fetch(
        "SELECT c.queue, c.window_s, c.window_start, c.source_partition, c.stats, c.counted, c.next_offset"
        "  FROM queue_stats_windows AS c"
        "  JOIN unnest($1::text[], $2::int[], $3::timestamptz[], $4::int[]) AS k(q, w, s, p)"
        "    ON (c.queue, c.window_s, c.window_start, c.source_partition) = (k.q, k.w, k.s, k.p)"
        "   FOR UPDATE OF c",
        [s.queue for s in slots],
        [s.window_s for s in slots],
        [s.window_start for s in slots],
        [s.partition for s in slots],
    )
    stored = {
        CellSlot(r["queue"], r["window_s"], r["window_start"], r["source_partition"]): cell_from_state(
            {"stats": r["stats"], "next_offset": r["next_offset"], "counted": r["counted"]}
        )
        for r in rows
    }
    return {slot: stored.get(slot, Cell()) for slot in slots}


async def load_snapshots(conn: asyncpg.Connection, window_s: int, since: datetime) -> list[Snapshot]:
    """The all-time cells and the cells of windows starting at or after `since`."""
    rows = await conn.fetch(
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


async def prune(conn: asyncpg.Connection, before: datetime) -> int:
    """Forget windows that started before `before` (past retention); the all-time cells stay."""
    status = await conn.execute(
        "DELETE FROM queue_stats_windows WHERE window_s <> $1 AND window_start < $2", ALL_TIME, before
    )
    return int(status.split()[-1])
