"""Queue service metrics agent: task events -> per-queue QueueStats in two Faust tables, published to PostgreSQL.

* `queue-stats-window-<size>s`: tumbling windows in event time (the events' `occurred_at`), kept for the
  retention setting; `queue-stats-total`: the all-time counters. Both keyed `queue@partition` (see
  src/billing/care/rules/queue_metrics.py for why the partition is in the key and how each event is counted once).
* After each event the two cells it touched are upserted into `queue_stats_windows`, so that any worker can
  answer `/queues/metrics` for the whole group by summing the partitions' cells (QueueStats is mergeable),
  instead of routing the request to the owner of each of the partitions. The upsert never moves a cell
  backwards (its source offset must not decrease).
* Concurrency 1 (faust-streaming issue 606). A record that cannot be decoded, or whose handling fails with a
  bug, is dead-lettered by its position (unique, so the retention agent's dead letter of the same record and
  ours are one row), and the stream goes on. Database outages are retried, never dead-lettered.
"""

from __future__ import annotations

from datetime import timedelta

import faust

from billing.care.metrics_store import ALL_TIME, EPOCH, CellRow, prune, save_cells
from billing.care.metrics_view import utc_now
from billing.care.rules.queue_metrics import (
    Cell,
    cell_from_state,
    cell_key,
    cell_to_state,
    contribution_of,
    decide,
    is_retained,
    stats_to_state,
    window_start,
)
from billing.contracts import Event
from billing.entrypoints.worker.raw import raw_agent
from billing.platform.context import WorkerContext
from billing.platform.decoding import ErrorKind, RawMessage, Rejection, decode
from billing.platform.retry import is_transient, retry_transient
from billing.platform.store import record_dead_letters
from billing.platform.topics import TASK_EVENTS

_PRUNE_INTERVAL_S = 600.0


class QueueMetricsRecorder:
    def __init__(self, ctx: WorkerContext, windows: faust.types.tables.WindowWrapperT, totals: faust.Table) -> None:
        self.ctx = ctx
        self.windows = windows
        self.totals = totals
        self.size_s = ctx.settings.queue_metrics_window_s
        self.retention_s = ctx.settings.queue_metrics_retention_s

    async def process(self, message: RawMessage) -> None:
        log = self.ctx.log.bind(
            topic=message.topic, partition=message.partition, offset=message.offset, consumer="queue-metrics"
        )

        def on_retry(error: BaseException, attempt: int) -> None:
            self.ctx.metrics.retries.labels(TASK_EVENTS.name).inc()
            log.warning("transient failure, retrying", error=repr(error), attempt=attempt)

        decoded = decode(message, TASK_EVENTS)
        if isinstance(decoded, Rejection):
            await retry_transient(lambda: self._dead_letter(message, decoded, log), on_retry)
            return
        try:
            rows = self._count(decoded, message)
        except Exception as error:  # noqa: BLE001 - a bug must not stop the partition
            if is_transient(error):
                raise
            failure = Rejection(ErrorKind.FAILED, repr(error))
            await retry_transient(lambda: self._dead_letter(message, failure, log), on_retry)
            return
        if rows:
            pool = await self.ctx.pool()
            await retry_transient(lambda: save_cells(pool, rows), on_retry)
            log.debug("queue metrics counted", event_id=decoded.event_id, event_type=decoded.type)

    def _count(self, event: Event, message: RawMessage) -> list[CellRow]:
        """Update the table cells this event belongs to; return both cells as they now stand.

        They are returned even when the event was already counted: after a crash between the table write and
        the PostgreSQL write, the redelivered record is how PostgreSQL catches up.
        """
        contribution = contribution_of(event)
        if contribution is None:
            return []
        queue, partition = contribution.queue, message.partition
        key = cell_key(queue, partition)
        start = window_start(contribution.occurred_at, self.size_s)
        windows = self.windows.relative_to(contribution.occurred_at.timestamp())
        window: Cell | None = None
        if is_retained(start, self.size_s, utc_now(), self.retention_s):
            window = cell_from_state(windows[key].value())
        total = cell_from_state(self.totals[key])
        update = decide(window, total, contribution, event.event_id, message.offset)
        if update.window is not None:
            windows[key] = cell_to_state(update.window)
            window = update.window
        if update.total is not None:
            self.totals[key] = cell_to_state(update.total)
            total = update.total
        rows = [CellRow(queue, ALL_TIME, EPOCH, partition, stats_to_state(total.stats), total.next_offset)]
        if window is not None and window.next_offset > 0:
            rows.append(CellRow(queue, self.size_s, start, partition, stats_to_state(window.stats), window.next_offset))
        return rows

    async def _dead_letter(self, message: RawMessage, rejection: Rejection, log) -> None:
        pool = await self.ctx.pool()
        async with pool.acquire() as conn, conn.transaction():
            new = await record_dead_letters(conn, [(message, rejection)])
        if new:
            self.ctx.metrics.dead_letters.labels(TASK_EVENTS.name, str(rejection.kind)).inc()
            self.ctx.outbox_signal.set()
            log.warning("dead-lettered", kind=str(rejection.kind), reason=rejection.reason[:300])


def register(app: faust.App, ctx: WorkerContext) -> None:
    settings = ctx.settings
    partitions = TASK_EVENTS.partitions(settings)
    size_s, retention_s = settings.queue_metrics_window_s, settings.queue_metrics_retention_s
    windows = app.Table(
        f"queue-stats-window-{size_s}s",
        default=dict,
        partitions=partitions,
        help="Per queue@partition QueueStats cells in tumbling event-time windows.",
    ).tumbling(size_s, expires=retention_s)
    totals = app.Table(
        "queue-stats-total", default=dict, partitions=partitions, help="Per queue@partition all-time QueueStats cells."
    )
    recorder = QueueMetricsRecorder(ctx, windows, totals)
    raw_agent(app, TASK_EVENTS, ctx.settings, f"{TASK_EVENTS.name}.queue-metrics", recorder.process)

    @app.timer(interval=_PRUNE_INTERVAL_S)
    async def prune_old_windows() -> None:
        # Every worker may run this; the DELETE is idempotent. Windows past retention are gone from the tables too.
        pool = await ctx.pool()
        await prune(pool, utc_now() - timedelta(seconds=retention_s + size_s))
