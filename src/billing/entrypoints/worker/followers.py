"""The Faust side of the consumers that follow records other consumers own: their agents, their tables (caches
of PostgreSQL's exact figures, each cell keyed by its source partition so that it reaches the changelog partition
of the event that wrote it) and the queue metrics' pruning timer. The consumers themselves live in their
contexts: src/billing/retention/consumers.py and src/billing/care/metrics_consumer.py."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import faust
from faust.tables.wrappers import WindowWrapper
from faust.types.tables import TableT

from billing.care.metrics_consumer import QueueMetricsConsumer
from billing.care.metrics_store import prune
from billing.care.metrics_view import utc_now
from billing.entrypoints.worker.raw import record_agent
from billing.platform.context import WorkerContext
from billing.platform.records import RecordProcessor
from billing.platform.topics import ACCOUNTS, TASK_EVENTS
from billing.platform.unit_of_work import unit_of_work
from billing.retention.consumers import consumers as retention_consumers
from billing.retention.rules.table_cells import split_key, totals

LIVE_TABLE = "retention-counts"
_PRUNE_INTERVAL_S = 600.0


def register_retention(app: faust.App, ctx: WorkerContext) -> None:
    table = app.Table(
        LIVE_TABLE,
        default=dict,
        partitions=ACCOUNTS.partitions(ctx.settings),
        help="Live retention counters per practice|arm@partition (PostgreSQL holds the exact ones).",
    )
    for consumer in retention_consumers(ctx, table):
        record_agent(app, RecordProcessor(consumer, ctx), consumer.name)


def live_counts(app: faust.App) -> dict:
    """This worker's live retention counters: cells of the partitions it owns (standby copies of others are left
    out, so that summing every worker's answer counts each partition once)."""
    table = app.tables.get(LIVE_TABLE)
    if not isinstance(table, faust.Table):  # None before register_retention made it
        return {}
    owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == ACCOUNTS.name}
    return totals((key, cell) for key, cell in table.items() if split_key(key)[2] in owned)


class FaustCells:
    """The queue metric cells' cache: `queue-stats-window-<size>s` (tumbling windows in event time, kept for the
    retention setting) and `queue-stats-total` (all time)."""

    def __init__(self, windows: WindowWrapper, totals: TableT) -> None:
        self.windows = windows
        self.totals = totals

    def window(self, key: str, at: datetime) -> Mapping[str, Any] | None:
        return self.windows.relative_to(at.timestamp())[key].value()

    def set_window(self, key: str, at: datetime, state: Mapping[str, Any]) -> None:
        self.windows.relative_to(at.timestamp())[key] = state

    def total(self, key: str) -> Mapping[str, Any] | None:
        return self.totals[key]

    def set_total(self, key: str, state: Mapping[str, Any]) -> None:
        self.totals[key] = state


def register_queue_metrics(app: faust.App, ctx: WorkerContext) -> None:
    settings = ctx.settings
    partitions = TASK_EVENTS.partitions(settings)
    size_s, retention_s = settings.queue_metrics_window_s, settings.queue_metrics_retention_s
    windows = app.Table(
        f"queue-stats-window-{size_s}s",
        default=dict,
        partitions=partitions,
        help="Per queue@partition QueueStats cells in tumbling event-time windows.",
    ).tumbling(size_s, expires=retention_s)
    cells = app.Table(
        "queue-stats-total", default=dict, partitions=partitions, help="Per queue@partition all-time QueueStats cells."
    )
    # tumbling() is annotated with the abstract wrapper, which omits relative_to; every wrapper it returns is this.
    if not isinstance(windows, WindowWrapper):
        raise TypeError(f"faust's tumbling() returned {type(windows).__name__}, not a WindowWrapper")
    consumer = QueueMetricsConsumer(FaustCells(windows, cells), size_s, retention_s)
    record_agent(app, RecordProcessor(consumer, ctx), consumer.name)

    @app.timer(interval=_PRUNE_INTERVAL_S)
    async def prune_old_windows() -> None:
        # Every worker may run this; the DELETE is idempotent. Windows past retention are gone from the tables too.
        async with unit_of_work(await ctx.pool()) as conn:
            await prune(conn, utc_now() - timedelta(seconds=retention_s + size_s))
