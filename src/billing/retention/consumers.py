"""Retention agents: learn what became of each handled case, in event time.

Two thin agents, each concurrency 1 (faust-streaming issue 606):
* on `billing.accounts.v1` (beside the accounts projection, which consumes the same records): every event
  moves its partition's event-time clock, a closure is remembered;
* on `billing.task-events.v1`: a `task.completed.v1` is a handled case (other task events need nothing).
In the same transaction, the cases of that partition whose horizon the clock has passed are resolved and counted
(src/billing/retention/store.py). All writes are idempotent by key, so no `processed_events` claim is needed,
and the records stay claimable by the accounts projection under their own event ids.
A bad record is dead-lettered by position (unique, so the projection's dead letter and ours are one).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg
import faust

from billing.contracts import Event
from billing.entrypoints.worker.raw import raw_agent
from billing.platform.context import WorkerContext
from billing.platform.decoding import ErrorKind, RawMessage, Rejection, decode
from billing.platform.retry import is_transient, retry_transient
from billing.platform.store import record_dead_letters
from billing.platform.topics import ACCOUNTS, TASK_EVENTS, TopicSpec
from billing.retention import store
from billing.retention.rules.table_cells import bumped, cell_key, split_key, totals

MAX_RESOLVE_ROUNDS = 50  # per event: a backlog is finished by later events, the stream is not held up
# An account event that is not a closure and moves its partition's clock by less than this since the clock
# this worker last wrote needs no transaction: the stored clock may lag by up to a day of event time, which
# only delays deciding a 30/60/90-day horizon by that much, and most account events need no database work.
CLOCK_STEP = timedelta(days=1)


async def on_account_event(conn: asyncpg.Connection, event: Event, message: RawMessage) -> None:
    if event.type == "account.closed.v1":
        await store.record_closure(conn, event.payload.account_id, event.payload.closed_at)
    await store.advance_clock(conn, message.partition, event.occurred_at)


async def on_task_event(conn: asyncpg.Connection, event: Event, message: RawMessage) -> None:
    task = event.payload
    await store.record_case(
        conn,
        store.CaseFacts(
            case_id=task.task_id,
            source_event_id=event.event_id,
            account_id=task.account_id,
            partition=message.partition,
            practice=str(task.practice),
            arm=str(task.arm),
            queue=task.queue,
            kind=str(task.kind),
            agent_tier=int(task.agent_tier),
            waited_ms=task.waited_ms,
            discount_minor=task.discount_minor,
            currency=task.currency,
            case_at=event.occurred_at,
        ),
    )


Apply = Callable[[asyncpg.Connection, Event, RawMessage], Awaitable[None]]


@dataclass
class RetentionProcessor:
    spec: TopicSpec
    apply: Apply
    ctx: WorkerContext
    event_types: frozenset[str]  # the ones that matter here; others need no database work at all
    table: faust.Table | None = None  # live counters per practice|arm@partition (a cache of PostgreSQL's)
    clock_written: dict[int, datetime] = field(default_factory=dict)  # per partition, by this worker

    async def process(self, message: RawMessage) -> None:
        decoded = decode(message, self.spec)
        if not isinstance(decoded, Rejection) and not self._needs_work(decoded, message.partition):
            return
        log = self.ctx.log.bind(
            topic=message.topic, partition=message.partition, offset=message.offset, consumer="retention"
        )

        def on_retry(error: BaseException, attempt: int) -> None:
            log.warning("transient failure, retrying", error=repr(error), attempt=attempt)

        resolved = await retry_transient(lambda: self._handle(message, decoded, log), on_retry)
        if not isinstance(decoded, Rejection) and self.spec is ACCOUNTS:
            before = self.clock_written.get(message.partition, decoded.occurred_at)
            self.clock_written[message.partition] = max(before, decoded.occurred_at)
        self._count_live(message.partition, resolved.counted)
        if resolved.cases >= store.RESOLVE_BATCH:  # a backlog (a big clock step): finish it in more transactions
            await retry_transient(lambda: self._resolve(message.partition), on_retry)

    def _needs_work(self, event: Event, partition: int) -> bool:
        if event.type not in self.event_types:
            return False
        if self.spec is not ACCOUNTS or event.type == "account.closed.v1":
            return True
        written = self.clock_written.get(partition)
        return written is None or event.occurred_at >= written + CLOCK_STEP

    def _count_live(self, partition: int, counted: list[tuple[str, str, int, bool]]) -> None:
        """After the commit: bump the Faust table cells (during the partition's event, so its changelog)."""
        if self.table is None:
            return
        for practice, arm, horizon, retained in counted:
            key = cell_key(practice, arm, partition)
            self.table[key] = bumped(self.table.get(key), horizon, retained)

    async def _handle(self, message: RawMessage, decoded: Event | Rejection, log) -> store.Resolved:
        """Apply the event and resolve what it made due, in one transaction."""
        pool = await self.ctx.pool()
        async with pool.acquire() as conn, conn.transaction():
            if isinstance(decoded, Rejection):
                await self._dead_letter(conn, message, decoded, log)
                return store.Resolved(0, [])
            try:
                async with conn.transaction():
                    await self.apply(conn, decoded, message)
            except Exception as error:  # noqa: BLE001 - a bug must not stop the partition; transient ones retry
                if is_transient(error):
                    raise
                await self._dead_letter(conn, message, Rejection(ErrorKind.FAILED, repr(error)), log)
                return store.Resolved(0, [])
            return await store.resolve_due(conn, message.partition)

    async def _dead_letter(self, conn: asyncpg.Connection, message: RawMessage, rejection: Rejection, log) -> None:
        if await record_dead_letters(conn, [(message, rejection)]):
            self.ctx.metrics.dead_letters.labels(self.spec.name, str(rejection.kind)).inc()
            self.ctx.outbox_signal.set()
            log.warning("dead-lettered", kind=str(rejection.kind), reason=rejection.reason[:300])

    async def _resolve(self, partition: int) -> None:
        pool = await self.ctx.pool()
        for _ in range(MAX_RESOLVE_ROUNDS):
            async with pool.acquire() as conn, conn.transaction():
                resolved = await store.resolve_due(conn, partition)
            self._count_live(partition, resolved.counted)
            if resolved.cases < store.RESOLVE_BATCH:
                return


LIVE_TABLE = "retention-counts"


def live_counts(app: faust.App) -> dict:
    """This worker's live counters: cells of the partitions it owns (standby copies of others are left out,
    so that summing every worker's answer counts each partition once)."""
    table = app.tables.get(LIVE_TABLE)
    if table is None:
        return {}
    owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == ACCOUNTS.name}
    return totals((key, cell) for key, cell in table.items() if split_key(key)[2] in owned)


def register(app: faust.App, ctx: WorkerContext) -> None:
    table = app.Table(
        LIVE_TABLE,
        default=dict,
        partitions=ACCOUNTS.partitions(ctx.settings),
        help="Live retention counters per practice|arm@partition (PostgreSQL holds the exact ones).",
    )
    _register_one(app, RetentionProcessor(ACCOUNTS, on_account_event, ctx, ACCOUNTS.event_types, table))
    _register_one(app, RetentionProcessor(TASK_EVENTS, on_task_event, ctx, frozenset({"task.completed.v1"}), table))


def _register_one(app: faust.App, processor: RetentionProcessor) -> None:
    raw_agent(app, processor.spec, processor.ctx.settings, f"{processor.spec.name}.retention", processor.process)
