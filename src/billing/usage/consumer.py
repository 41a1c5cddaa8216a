"""The usage hot path: aiokafka batches in, PostgreSQL transactions per batch, offsets committed after.

Runs inside every worker process beside the Faust agents, in its own consumer group, so several workers
share the usage partitions. A crash before the commit replays the batch; the event-id key makes that a no-op.

Each fetched batch is split into lanes by partition (``USAGE_STORE_LANES``), and the lanes are written at
once, each in its own transaction on its own connection, each committing its own partitions' offsets. One
PostgreSQL backend runs one transaction on one core; lanes let the database use a second core when a batch
holds several partitions. Records are keyed by account, so lanes never touch the same account's totals and
never wait on each other's locks, and the next batch's lanes start only once all of this batch's have
committed, so a partition is never in two transactions at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from billing.platform.concurrency import all_or_none
from billing.platform.context import WorkerContext, create_pool
from billing.platform.retry import retry_transient
from billing.platform.topics import USAGE
from billing.platform.unit_of_work import connection
from billing.usage.batch import PreparedBatch, prepare_into
from billing.usage.rules.rating import AccountView
from billing.usage.store import STAGE_DDL
from billing.usage.writer import SLICE, ApplyResult, Assessment, UsageWriter

T = TypeVar("T")


class UsageConsumer:
    def __init__(self, ctx: WorkerContext, writer: UsageWriter) -> None:
        self.ctx = ctx
        self.writer = writer
        self.log = ctx.log.bind(topic=USAGE.name, path="usage-batch")
        self.lanes = ctx.settings.usage_store_lanes
        self.store_pool: asyncpg.Pool | None = None

    def build_consumer(self) -> AIOKafkaConsumer:
        s = self.ctx.settings
        return AIOKafkaConsumer(
            USAGE.name,
            bootstrap_servers=s.require_bootstrap(),
            group_id=f"{s.app_id}-usage",
            client_id=f"{s.app_id}-usage",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(s.broker_session_timeout_s * 1000),
            heartbeat_interval_ms=int(s.broker_heartbeat_interval_s * 1000),
            max_poll_records=s.usage_batch_max,
            # The embedded broker holds a fetch for its whole max wait even when records are there: at the
            # default 500 ms that alone set the p99 from publish to persisted (tools/bench/PROFILE.md).
            fetch_max_wait_ms=50,
        )

    async def run(self, stopping: asyncio.Event) -> None:
        consumer = self.build_consumer()
        await retry_transient(consumer.start, self._on_retry)
        in_flight: asyncio.Future | None = None
        try:
            self.store_pool = await retry_transient(self._open_store_pool, self._on_retry)
            while not stopping.is_set():
                records = await consumer.getmany(
                    timeout_ms=self.ctx.settings.usage_batch_wait_ms, max_records=self.ctx.settings.usage_batch_max
                )
                # Fetching, decoding and rating the next batch overlaps the previous batch's transactions, which
                # mostly wait on PostgreSQL (tools/bench/PROFILE.md). A partition's transactions and offset commits
                # still happen one batch after another, so a committed offset never runs ahead of its effects.
                lanes, accounts = await self.prepare(records) if records else ([], {})
                assessed = await self.assess(lanes, accounts) if lanes else []
                if in_flight is not None:
                    await in_flight
                    in_flight = None
                if assessed:
                    lanes_written = all_or_none([self.handle(consumer, lane, a) for lane, a in assessed])
                    in_flight = asyncio.ensure_future(lanes_written)
                self._update_lag(consumer)
            if in_flight is not None:
                await in_flight  # a stop request lets the batch in flight commit
                in_flight = None
        finally:
            if in_flight is not None:
                in_flight.cancel()  # failed or cancelled elsewhere: its transaction rolls back and is replayed
            await consumer.stop()
            if self.store_pool is not None:
                await self.store_pool.close()

    async def prepare(self, records: dict) -> tuple[list[PreparedBatch], dict[str, AccountView]]:
        """Decode the fetched records a slice at a time, giving the event loop a turn between slices, while
        PostgreSQL reads the views of the accounts the record keys name (the key is the account id)."""
        keys = {r.key.decode(errors="replace") for rs in records.values() for r in rs if r.key}
        reading = asyncio.ensure_future(self.read_accounts(keys))
        lanes = [PreparedBatch() for _ in range(self.lanes)]
        try:
            for tp, fetched in records.items():
                lane = lanes[tp.partition % self.lanes]
                for start in range(0, len(fetched), SLICE):
                    prepare_into(lane, fetched[start : start + SLICE])  # aiokafka's records as they are
                    await asyncio.sleep(0)
        finally:
            accounts = await reading
        return lanes, accounts

    async def read_accounts(self, account_ids: set[str]) -> dict[str, AccountView]:
        return await self._read(lambda conn: self.writer.accounts.views(conn, account_ids))

    async def assess(
        self, lanes: list[PreparedBatch], accounts: dict[str, AccountView]
    ) -> list[tuple[PreparedBatch, Assessment]]:
        async def each(conn: asyncpg.Connection) -> list[tuple[PreparedBatch, Assessment]]:
            return [(lane, await self.writer.assess(conn, lane, accounts)) for lane in lanes if lane.size]

        return await self._read(each)

    async def _read(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Reads outside any transaction, on a pooled connection, retried on transient failures."""
        pool = await self.ctx.pool()

        async def attempt() -> T:
            async with connection(pool) as conn:
                return await work(conn)

        return await retry_transient(attempt, self._on_retry)

    async def handle(self, consumer: AIOKafkaConsumer, batch: PreparedBatch, assessment: Assessment) -> None:
        metrics = self.ctx.metrics
        metrics.events_in.labels(USAGE.name).inc(batch.size)
        started = time.perf_counter()
        with metrics.batch_seconds.labels(USAGE.name).time():
            result = await retry_transient(lambda: self.write(batch, assessment), self._on_retry)
        persisted_at = time.time()  # the transaction has committed: these events are billed from now on
        stored = time.perf_counter()
        await self._commit(consumer, batch)
        timing = {
            "store_ms": round(1000 * (stored - started), 1),
            "commit_ms": round(1000 * (time.perf_counter() - stored), 1),
        }
        self._observe(batch, result, persisted_at, timing)

    async def write(self, batch: PreparedBatch, assessment: Assessment) -> ApplyResult:
        if self.store_pool is None:
            raise RuntimeError("the usage store pool is opened by run() before any batch is written")
        async with connection(self.store_pool) as conn:
            return await self.writer.write(conn, batch, assessment, stage_ready=True)

    async def _open_store_pool(self) -> asyncpg.Pool:
        """One connection per lane, with the staging table made once per connection. Released connections
        are not reset: asyncpg's reset is a round trip on the batch chain, and these connections carry no
        session state but the staging table (emptied at every commit)."""
        return await create_pool(self.ctx.settings, max_size=self.lanes, prepare=_make_stage, reset=_keep_session)

    def _observe(self, batch: PreparedBatch, result: ApplyResult, persisted_at: float, timing: dict) -> None:
        metrics = self.ctx.metrics
        metrics.events_applied.labels(USAGE.name, "usage.recorded.v1").inc(result.inserted)
        metrics.events_duplicate.labels(USAGE.name).inc(result.duplicates)
        metrics.usage_parked.inc(len(result.parked))
        for message, rejection in result.dead:
            metrics.dead_letters.labels(USAGE.name, str(rejection.kind)).inc()
            self.log.warning(
                "dead-lettered",
                partition=message.partition,
                offset=message.offset,
                kind=str(rejection.kind),
                reason=rejection.reason[:300],
            )
        if result.dead:
            self.ctx.outbox_signal.set()
        if result.isolated_after is not None:
            self.log.warning(
                "usage batch stored record by record: PostgreSQL refused a value of some record",
                error=repr(result.isolated_after)[:300],
                ranges=batch.offset_ranges(),
            )
        # persisted_at and the offset ranges let the benchmark tell when each event became durable (tools/bench).
        self.log.info(
            "usage batch applied",
            received=batch.size,
            rated=result.inserted,
            duplicates=result.duplicates,
            parked=len(result.parked),
            dead_lettered=len(result.dead),
            persisted_at=round(persisted_at, 6),
            ranges=batch.offset_ranges(),
            **timing,
        )

    async def _commit(self, consumer: AIOKafkaConsumer, batch: PreparedBatch) -> None:
        offsets = {TopicPartition(t, p): o for (t, p), o in batch.next_offsets.items()}
        try:
            await consumer.commit(offsets)
            for (topic, partition), offset in batch.next_offsets.items():
                self.ctx.done_up_to(topic, partition, offset)
        except (CommitFailedError, IllegalStateError) as error:
            # The partitions moved to another worker mid-batch; it will replay them and the keys absorb it.
            self.log.warning("offset commit refused after rebalance", error=repr(error))

    def _update_lag(self, consumer: AIOKafkaConsumer) -> None:
        assignment = consumer.assignment()
        self.ctx.metrics.assigned_partitions.labels(USAGE.name).set(len(assignment))
        for tp in assignment:
            self.ctx.observe_lag(tp.topic, tp.partition, consumer.highwater(tp))

    def _on_retry(self, error: BaseException, attempt: int) -> None:
        self.ctx.metrics.retries.labels(USAGE.name).inc()
        self.log.warning("transient failure, retrying batch", error=repr(error), attempt=attempt)


async def _make_stage(conn: asyncpg.Connection) -> None:
    await conn.execute(STAGE_DDL)


async def _keep_session(conn: asyncpg.Connection) -> None:
    return None
