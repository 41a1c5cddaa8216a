"""Retention follower: learn what became of each handled case, in event time (a RecordConsumer,
src/billing/platform/records.py, wired to its agents in src/billing/entrypoints/worker/followers.py).

Two consumers, each a second reader of records another consumer owns (so it counts no topic metrics):
* of `billing.accounts.v1` (beside the accounts projection, which consumes the same records): every event
  moves its partition's event-time clock, a closure is remembered;
* of `billing.task-events.v1`: a `task.completed.v1` is a handled case (other task events need nothing).
In the same transaction, the cases of that partition whose horizon the clock has passed are resolved and counted
(src/billing/retention/store.py). All writes are idempotent by key, so no `processed_events` claim is needed,
and the records stay claimable by the accounts projection under their own event ids.
A bad record is dead-lettered by position (unique, so the projection's dead letter and ours are one).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from billing.contracts import Event
from billing.platform.context import WorkerContext
from billing.platform.decoding import RawMessage
from billing.platform.records import Outcome
from billing.platform.retry import retry_transient
from billing.platform.topics import ACCOUNTS, TASK_EVENTS, TopicSpec
from billing.platform.unit_of_work import unit_of_work
from billing.retention import store
from billing.retention.rules.table_cells import bumped, cell_key

MAX_RESOLVE_ROUNDS = 50  # per event: a backlog is finished by later events, the stream is not held up
# An account event that is not a closure and moves its partition's clock by less than this since the clock
# this worker last wrote needs no transaction: the stored clock may lag by up to a day of event time, which
# only delays deciding a 30/60/90-day horizon by that much, and most account events need no database work.
CLOCK_STEP = timedelta(days=1)


async def on_account_event(conn: asyncpg.Connection, event: Event, message: RawMessage) -> None:
    if event.type == "account.closed.v1":
        # A closure for non-payment (collections' dunning) is churn like any other, counted under its cause.
        p = event.payload
        await store.record_closure(conn, p.account_id, p.closed_at, p.reason.value)
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
            period=task.period or "",
        ),
    )


Apply = Callable[[asyncpg.Connection, Event, RawMessage], Awaitable[None]]
LiveCells = MutableMapping[str, dict]  # the Faust table `retention-counts`: a cache of PostgreSQL's counters


@dataclass
class RetentionConsumer:
    spec: TopicSpec
    record: Apply
    ctx: WorkerContext
    event_types: frozenset[str]  # the ones that matter here; others need no database work at all
    table: LiveCells | None = None  # live counters per practice|arm@partition
    clock_written: dict[int, datetime] = field(default_factory=dict)  # per partition, by this worker
    name: str = "retention"
    primary: bool = False
    _resolved: store.Resolved = field(default_factory=lambda: store.Resolved(0, []))

    def wants(self, event: Event, message: RawMessage) -> bool:
        if event.type not in self.event_types:
            return False
        if self.spec is not ACCOUNTS or event.type == "account.closed.v1":
            return True
        written = self.clock_written.get(message.partition)
        return written is None or event.occurred_at >= written + CLOCK_STEP

    async def apply(self, conn: asyncpg.Connection, event: Event, message: RawMessage) -> Outcome:
        """Record the event and resolve what it made due, in the record's transaction."""
        await self.record(conn, event, message)
        self._resolved = await store.resolve_due(conn, message.partition)
        return Outcome.APPLIED

    async def after_commit(self, event: Event, message: RawMessage, outcome: Outcome) -> None:
        partition, resolved = message.partition, self._resolved
        self._resolved = store.Resolved(0, [])
        if self.spec is ACCOUNTS:
            self.clock_written[partition] = max(self.clock_written.get(partition, event.occurred_at), event.occurred_at)
        self._count_live(partition, resolved.counted)
        if resolved.cases >= store.RESOLVE_BATCH:  # a backlog (a big clock step): finish it in more transactions
            await retry_transient(lambda: self._resolve(partition), self._on_retry)

    def _on_retry(self, error: BaseException, attempt: int) -> None:
        self.ctx.metrics.retries.labels(self.spec.name).inc()
        self.ctx.log.warning("transient failure, retrying", consumer=self.name, error=repr(error), attempt=attempt)

    def _count_live(self, partition: int, counted: list[tuple[str, str, int, bool]]) -> None:
        """After the commit: bump the table cells (during the partition's event, so its changelog partition)."""
        if self.table is None:
            return
        for practice, arm, horizon, retained in counted:
            key = cell_key(practice, arm, partition)
            self.table[key] = bumped(self.table.get(key), horizon, retained)

    async def _resolve(self, partition: int) -> None:
        pool = await self.ctx.pool()
        for _ in range(MAX_RESOLVE_ROUNDS):
            async with unit_of_work(pool) as conn:
                resolved = await store.resolve_due(conn, partition)
            self._count_live(partition, resolved.counted)
            if resolved.cases < store.RESOLVE_BATCH:
                return


def consumers(ctx: WorkerContext, table: LiveCells | None) -> tuple[RetentionConsumer, ...]:
    return (
        RetentionConsumer(ACCOUNTS, on_account_event, ctx, ACCOUNTS.event_types, table),
        RetentionConsumer(TASK_EVENTS, on_task_event, ctx, frozenset({"task.completed.v1"}), table),
    )
