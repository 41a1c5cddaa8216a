"""Queue service metrics consumer: task events -> per-queue QueueStats cells, counted once each, in PostgreSQL
(a RecordConsumer, src/billing/platform/records.py; its agent, tables and timer are wired in
src/billing/entrypoints/worker/followers.py).

* Cells (src/billing/care/rules/queue_metrics.py): per `queue@partition`, one per tumbling window in event time
  (the events' `occurred_at`) and one for all time. Any worker answers `/queues/metrics` for the whole group by
  summing the partitions' rows (QueueStats is mergeable).
* PostgreSQL is the authority. An event's cells, their offset watermarks and counted event ids (the idempotency
  key) are written in the record's transaction, each only over the value it was computed from (compare and set
  on the watermark, src/billing/care/metrics_store.py). The Faust table cells are a cache of the rows, written
  after the commit. Why: the table's changelog is produced asynchronously, and Faust commits the source offset
  after a bounded flush; after a kill -9 the restored cell could be behind both the committed offset and the row,
  and the next event counted on it overwrote the row with fewer counts (2 of 1500 lost under load). Now a cache
  behind its row fails the compare and set, the cells are rebuilt from the rows (locked) and the event decided
  again on them, so the row never loses a count, and a replayed or re-sent event is still counted once.
* A record that cannot be decoded, or whose handling fails with a bug, is dead-lettered by its position (unique,
  so the retention consumer's dead letter of the same record and ours are one row). Database outages are
  retried, never dead-lettered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from billing.care.metrics_store import ALL_TIME, EPOCH, CellSlot, CellWrite, load_cells, save_cells
from billing.care.metrics_view import utc_now
from billing.care.rules.queue_metrics import (
    Cell,
    Contribution,
    cell_from_state,
    cell_key,
    cell_to_state,
    contribution_of,
    decide,
    is_retained,
    window_start,
)
from billing.contracts import Event
from billing.platform.decoding import RawMessage
from billing.platform.records import Outcome
from billing.platform.topics import TASK_EVENTS

# A compare and set fails when the cache is behind; the cells are then read locked, so the next one succeeds
# unless another worker inserted a missing row meanwhile (a rebalance overlap). More than this is a bug.
_ATTEMPTS = 3


class CellCache(Protocol):
    """The Faust tables' cells (src/billing/entrypoints/worker/followers.py), as plain JSON states."""

    def window(self, key: str, at: datetime) -> Mapping[str, Any] | None: ...
    def set_window(self, key: str, at: datetime, state: Mapping[str, Any]) -> None: ...
    def total(self, key: str) -> Mapping[str, Any] | None: ...
    def set_total(self, key: str, state: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class _Slots:
    key: str  # queue@partition, the table key
    window: CellSlot | None  # None when the event's window is past retention: counted in the total only
    total: CellSlot


@dataclass(frozen=True)
class _Committed:
    slots: _Slots
    at: datetime
    window: Cell | None
    total: Cell


class QueueMetricsConsumer:
    spec = TASK_EVENTS
    name = "queue-metrics"
    primary = False  # the records belong to the task events; the retention consumer reads them too

    def __init__(self, cache: CellCache, window_s: int, retention_s: int) -> None:
        self.cache = cache
        self.size_s = window_s
        self.retention_s = retention_s
        self._committed: _Committed | None = None  # what after_commit writes to the cache

    def wants(self, event: Event, message: RawMessage) -> bool:
        return contribution_of(event) is not None

    async def apply(self, conn: asyncpg.Connection, event: Event, message: RawMessage) -> Outcome:
        contribution = contribution_of(event)
        assert contribution is not None  # wants() said so
        slots = self._slots(contribution, message.partition)
        at = contribution.occurred_at
        window, total = self._cached(slots, at)
        self._committed, rebuilt = None, False
        for _ in range(_ATTEMPTS):
            update = decide(window, total, contribution, event.event_id, message.offset)
            writes = []
            if update.window is not None and slots.window is not None:
                writes.append(CellWrite(slots.window, update.window, window.next_offset if window else 0))
            if update.total is not None:
                writes.append(CellWrite(slots.total, update.total, total.next_offset))
            if not writes or await save_cells(conn, writes):
                if writes or rebuilt:  # a duplicate decided on the cache leaves the cache as it is
                    self._committed = _Committed(slots, at, update.window or window, update.total or total)
                return Outcome.APPLIED if writes else Outcome.DUPLICATE
            window, total = await self._stored(conn, slots)  # the cache is behind: PostgreSQL decides
            rebuilt = True
        raise RuntimeError(f"queue metric cells of {slots.key} kept moving under {_ATTEMPTS} compare-and-sets")

    async def after_commit(self, event: Event, message: RawMessage, outcome: Outcome) -> None:
        """Refresh the cache from what committed (during the partition's event, so its changelog partition)."""
        done, self._committed = self._committed, None
        if done is None:
            return
        if done.window is not None and done.window.next_offset > 0:
            self.cache.set_window(done.slots.key, done.at, cell_to_state(done.window))
        self.cache.set_total(done.slots.key, cell_to_state(done.total))

    def _slots(self, contribution: Contribution, partition: int) -> _Slots:
        queue = contribution.queue
        start = window_start(contribution.occurred_at, self.size_s)
        retained = is_retained(start, self.size_s, utc_now(), self.retention_s)
        window = CellSlot(queue, self.size_s, start, partition) if retained else None
        return _Slots(cell_key(queue, partition), window, CellSlot(queue, ALL_TIME, EPOCH, partition))

    def _cached(self, slots: _Slots, at: datetime) -> tuple[Cell | None, Cell]:
        window = cell_from_state(self.cache.window(slots.key, at)) if slots.window is not None else None
        return window, cell_from_state(self.cache.total(slots.key))

    async def _stored(self, conn: asyncpg.Connection, slots: _Slots) -> tuple[Cell | None, Cell]:
        wanted = [slots.total] if slots.window is None else [slots.window, slots.total]
        stored = await load_cells(conn, wanted)
        return (stored[slots.window] if slots.window is not None else None), stored[slots.total]
