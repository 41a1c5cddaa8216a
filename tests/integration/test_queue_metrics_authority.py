"""PostgreSQL is the authority over the queue metric cells; the Faust table cells are a cache of its rows.

After a kill -9 a worker can restore a table cell that is behind its row: Faust produces changelog records
asynchronously and commits the source offset after a bounded flush, so the offset can be committed while the
cell's last write never reached the changelog. The next event of that cell was then counted on the stale cell and
the row overwritten with it: one count lost per lost write (2 of 1500 in test_crash_before_commit under load).
Here the consumer is driven directly against the stack's PostgreSQL, with plain dicts as its cache; a fresh
consumer with an empty cache is the restarted worker whose changelog lost the writes. Before the fix the row
went back from 2 counts to 1 (the stale cell won), and a re-sent copy was counted twice (the counted event ids
lived only in the table)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing.care.metrics_consumer import QueueMetricsConsumer
from billing.care.rules.queue_metrics import cell_from_state, window_start
from billing.contracts import envelope as ev
from billing.contracts.tasks import TaskKind, TaskRouted, Tier
from billing.entrypoints.stack.loadgen import record_of
from billing.platform.context import WorkerContext
from billing.platform.decoding import RawMessage
from billing.platform.records import Outcome, RecordProcessor
from billing.platform.topics import TASK_EVENTS
from tests.integration.helpers import fetch, unique

pytestmark = pytest.mark.integration

WINDOW_S = 300
PARTITION = 1


class DictCells:
    def __init__(self) -> None:
        self.windows: dict[tuple[str, datetime], Mapping[str, Any]] = {}
        self.totals: dict[str, Mapping[str, Any]] = {}

    def window(self, key: str, at: datetime) -> Mapping[str, Any] | None:
        return self.windows.get((key, window_start(at, WINDOW_S)))

    def set_window(self, key: str, at: datetime, state: Mapping[str, Any]) -> None:
        self.windows[(key, window_start(at, WINDOW_S))] = state

    def total(self, key: str) -> Mapping[str, Any] | None:
        return self.totals.get(key)

    def set_total(self, key: str, state: Mapping[str, Any]) -> None:
        self.totals[key] = state


def _routed(queue: str, task_id: str, at: datetime) -> ev.Event:
    return ev.TaskRoutedEvent(
        event_id=f"{task_id}:routed",
        source="care/queues",
        occurred_at=at,
        schema_version=1,
        type="task.routed.v1",
        payload=TaskRouted(
            task_id=task_id,
            account_id=f"{task_id}-acc",
            queue=queue,
            kind=TaskKind.CALL,
            tier=Tier.FRONTLINE,
            priority=1,
            reason="other",
            rule="default",
        ),
    )


def _at(event: ev.Event, offset: int) -> RawMessage:
    record = record_of(event)
    return RawMessage(TASK_EVENTS.name, PARTITION, offset, record.key, record.value)


async def test_a_cache_behind_postgresql_loses_no_count_and_counts_no_copy_twice(live) -> None:
    queue, prefix = unique("qa"), unique("qat")
    at = window_start(datetime.now(UTC) - timedelta(minutes=20), WINDOW_S) + timedelta(seconds=7)
    first, second = _routed(queue, f"{prefix}-t1", at), _routed(queue, f"{prefix}-t2", at + timedelta(seconds=1))
    ctx = WorkerContext(live)

    def worker(cells: DictCells) -> RecordProcessor:
        return RecordProcessor(QueueMetricsConsumer(cells, WINDOW_S, live.queue_metrics_retention_s), ctx)

    async def stored() -> list[tuple[int, int]]:
        rows = await fetch(
            live.require_database_url(),
            "SELECT window_s, (stats->>'entered')::int AS entered FROM queue_stats_windows WHERE queue = $1"
            " ORDER BY window_s",
            queue,
        )
        return [(r["window_s"], r["entered"]) for r in rows]

    try:
        assert await worker(DictCells()).process(_at(first, 100)) is Outcome.APPLIED
        assert await stored() == [(0, 1), (WINDOW_S, 1)]

        # Restarted with its changelog short of that write, offset 100 committed: the next event of the cells.
        restarted = DictCells()
        assert await worker(restarted).process(_at(second, 101)) is Outcome.APPLIED
        assert await stored() == [(0, 2), (WINDOW_S, 2)]  # before the fix: [(0, 1), (300, 1)]
        assert cell_from_state(restarted.totals[f"{queue}@{PARTITION}"]).stats.entered == 2  # rebuilt from the row

        # The first record replayed (its offset was not committed after all) is counted once.
        assert await worker(DictCells()).process(_at(first, 100)) is Outcome.DUPLICATE
        # A copy re-sent by the outbox at a new offset, met by a worker whose cache lost everything.
        assert await worker(DictCells()).process(_at(first, 102)) is Outcome.DUPLICATE
        assert await stored() == [(0, 2), (WINDOW_S, 2)]  # before the fix: [(0, 3), (300, 3)]
        # Events that move no counter never open a transaction.
        requeued = ev.TaskRequeuedEvent.model_validate(
            {
                "event_id": f"{prefix}-t1:requeued:1",
                "source": "care/queues",
                "occurred_at": at,
                "schema_version": 1,
                "type": "task.requeued.v1",
                "payload": {
                    "task_id": f"{prefix}-t1",
                    "account_id": f"{prefix}-t1-acc",
                    "queue": queue,
                    "cause": "lease_expired",
                },
            }
        )
        assert await worker(DictCells()).process(_at(requeued, 103)) is Outcome.SKIPPED
    finally:
        await ctx.close()
