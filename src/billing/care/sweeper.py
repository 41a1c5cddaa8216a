"""The queue sweeper, a loop in every worker: returns expired leases to their queue, ends holds whose handling
or wrap-up limit ran out (src/billing/care/holds.py), re-computes the aging part of waiting tasks' priority, and
widens tasks that waited long enough to broader pools.

Every worker runs one. Expired offers are taken with `FOR UPDATE SKIP LOCKED`, and waiting tasks are changed
only if still as read, so two sweepers (or a sweeper and a claiming agent) never block each other for long nor
change a row twice. Each released or widened task writes its task.requeued.v1 in the same transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from billing.care import events
from billing.care.config import CareConfig
from billing.care.holds import time_out_holds
from billing.care.rules.queue_model import QueueTask, hold_limits
from billing.care.rules.task_states import HoldLimits
from billing.care.waiting import WaitingState, refresh_waiting
from billing.contracts.tasks import RequeueCause
from billing.platform.context import WorkerContext
from billing.platform.retry import retry_transient
from billing.platform.unit_of_work import Database, connection, unit_of_work

_BATCH = 1000


@dataclass(frozen=True)
class SweepResult:
    expired: int
    refreshed: int
    widened: int
    handle_timed_out: int = 0  # accepted tasks back to their queue
    wrap_up_timed_out: int = 0  # wrap-ups completed as wrap_up_timed_out


async def expire_leases(db: Database, now: datetime, batch: int = _BATCH) -> list[QueueTask]:
    """Offers whose lease ran out (lease_expires_at <= now: the lease is half-open) go back to their queue."""
    async with unit_of_work(db) as conn:
        rows = await conn.fetch(
            "WITH due AS (SELECT task_id FROM tasks WHERE state = 'reserved' AND lease_expires_at <= $1"
            " ORDER BY lease_expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
            " UPDATE tasks t SET state = 'queued', holder_agent_id = NULL, lease_expires_at = NULL,"
            " offers_expired = t.offers_expired + 1 FROM due WHERE t.task_id = due.task_id RETURNING t.*",
            now,
            batch,
        )
        released = [QueueTask.from_row(row) for row in rows]
        for task in released:
            await events.emit(conn, events.requeued(task, RequeueCause.LEASE_EXPIRED, now))
    return released


async def refresh_waiting_tasks(
    db: Database, care: CareConfig, now: datetime, batch: int = _BATCH, *, queues: list[str] | None = None
) -> tuple[int, int]:
    """Age and widen every waiting task (oldest first, ``batch`` at a time; ``queues`` limits it to tasks
    routed to those queues); returns (tasks changed, pools added).

    Reads without locking (a lock on every waiting row would make concurrent claims skip them), then updates
    only the rows that change, each on the condition that it is still waiting as read: a row a claim took or
    another sweeper already changed in between is left alone, so no pool is announced twice.
    """
    async with connection(db) as conn:
        return await _refresh_pages(conn, care, now, batch, queues)


async def _refresh_pages(
    conn: asyncpg.Connection, care: CareConfig, now: datetime, batch: int, queues: list[str] | None
) -> tuple[int, int]:
    changed = widened = 0
    after: tuple[datetime | None, str | None] = (None, None)  # keyset: the last (routed_at, task_id) read
    while True:
        rows = await conn.fetch(
            "SELECT * FROM tasks WHERE state = 'queued' AND ($1::text[] IS NULL OR queue = ANY($1::text[]))"
            " AND ($2::timestamptz IS NULL OR (routed_at, task_id) > ($2::timestamptz, $3::text))"
            " ORDER BY routed_at, task_id LIMIT $4",
            queues,
            after[0],
            after[1],
            batch,
        )
        page_changed, page_widened = await _refresh_page(conn, care, now, [QueueTask.from_row(r) for r in rows])
        changed, widened = changed + page_changed, widened + page_widened
        if len(rows) < batch:
            return changed, widened
        after = (rows[-1]["routed_at"], rows[-1]["task_id"])


async def _refresh_page(
    conn: asyncpg.Connection, care: CareConfig, now: datetime, tasks: list[QueueTask]
) -> tuple[int, int]:
    changes = []
    for task in tasks:
        current = WaitingState(task.priority, task.eligible_queues, task.tier)
        change = refresh_waiting(
            care, task.queue, task.static_priority, current, (now - task.routed_at).total_seconds()
        )
        if change is not None:
            changes.append((task, change))
    changed = widened = 0
    if not changes:
        return changed, widened
    async with unit_of_work(conn):
        for task, change in changes:
            updated = await conn.fetchval(
                "UPDATE tasks SET priority = $2, eligible_queues = $3, tier = $4 WHERE task_id = $1"
                " AND state = 'queued' AND eligible_queues = $5 AND priority = $6 RETURNING true",
                task.task_id,
                change.new.priority,
                list(change.new.eligible_queues),
                change.new.tier,
                list(task.eligible_queues),
                task.priority,
            )
            if not updated:
                continue
            for pool_name in change.added_pools:
                await events.emit(conn, events.requeued(task, RequeueCause.WIDENED, now, new_queue=pool_name))
            changed += 1
            widened += len(change.added_pools)
    return changed, widened


async def sweep(db: Database, care: CareConfig, now: datetime, limits: HoldLimits) -> SweepResult:
    """One round on one connection, each step its own transaction on it (a savepoint inside a caller's)."""
    async with connection(db) as conn:
        expired = await expire_leases(conn, now)
        timed_out = await time_out_holds(conn, now, limits)
        # Expired tasks are waiting again, so they are aged and widened in the same round.
        refreshed, widened = await refresh_waiting_tasks(conn, care, now)
    return SweepResult(len(expired), refreshed, widened, len(timed_out.requeued), len(timed_out.completed))


class QueueSweeper:
    def __init__(self, ctx: WorkerContext, care: CareConfig) -> None:
        self.ctx = ctx
        self.care = care
        self.limits = hold_limits(ctx.settings)

    async def run(self, stopping: asyncio.Event) -> None:
        interval = self.ctx.settings.queue_sweep_interval_s
        while not stopping.is_set():
            result = await retry_transient(self._sweep_now, self._on_retry)
            self._observe(result)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=interval)

    async def _sweep_now(self) -> SweepResult:
        return await sweep(await self.ctx.pool(), self.care, datetime.now(UTC), self.limits)

    def _observe(self, result: SweepResult) -> None:
        if result.expired or result.widened or result.handle_timed_out or result.wrap_up_timed_out:
            self.ctx.metrics.tasks_requeued.labels("lease_expired").inc(result.expired)
            self.ctx.metrics.tasks_requeued.labels("widened").inc(result.widened)
            self.ctx.metrics.tasks_requeued.labels("handle_timed_out").inc(result.handle_timed_out)
            self.ctx.outbox_signal.set()
            self.ctx.log.info(
                "queue sweep",
                expired=result.expired,
                widened=result.widened,
                refreshed=result.refreshed,
                handle_timed_out=result.handle_timed_out,
                wrap_up_timed_out=result.wrap_up_timed_out,
            )

    def _on_retry(self, error: BaseException, attempt: int) -> None:
        self.ctx.log.warning("queue sweep retrying", error=repr(error), attempt=attempt)
