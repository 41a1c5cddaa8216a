"""The payments path: aiokafka batches of `billing.payments.v1` in, one PostgreSQL transaction per lane, offsets
committed after the commit (like the usage hot path, src/billing/usage/consumer.py).

Runs inside every worker beside the Faust agents, in its own consumer group, so the workers share the payment
partitions. A fetched batch is split into lanes by partition; each lane is applied in its own transaction
(src/billing/collections/payment_batch.py) on its own connection, the lanes at once. Records are keyed by account,
so lanes never lock the same account. A crash before the offset commit replays the batch; the event-id and
document keys make that a no-op. If a batch cannot be applied as a whole (PostgreSQL refuses one record's value,
or another worker wrote one of its keys meanwhile), its records are applied one by one by the per-record
projection (src/billing/collections/projection.py), which dead-letters the one at fault and settles the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from billing.collections.payment_batch import BatchResult, apply_payments
from billing.collections.projection import payment_handlers
from billing.collections.rules.dunning import DunningPolicy
from billing.platform.concurrency import all_or_none
from billing.platform.context import WorkerContext
from billing.platform.decoding import RawMessage, decode
from billing.platform.records import Projection, RecordProcessor
from billing.platform.retry import is_transient, retry_transient
from billing.platform.topics import PAYMENTS
from billing.platform.unit_of_work import unit_of_work

# Most records per fetched batch, and the longest wait to fill one. Payments come at a fraction of the usage
# volume; a thousand per transaction already takes the per-transaction cost out of the figure (docs/collections.md).
BATCH_MAX = 5_000
BATCH_WAIT_MS = 200
LANES = 4


async def apply_lane(pool: asyncpg.Pool, policy: DunningPolicy, messages: Sequence[RawMessage]) -> BatchResult | None:
    """One lane's records in one transaction; None when the batch must be applied record by record instead."""
    items = [(m, decode(m, PAYMENTS)) for m in messages]
    try:
        async with unit_of_work(pool) as conn:
            return await apply_payments(conn, policy, items)
    except Exception as error:  # noqa: BLE001 - outages are retried; anything else is settled record by record
        # KeyTaken, a value PostgreSQL refuses, or a bug: the per-record projection dead-letters the one record at
        # fault (with its reason) instead of the whole batch failing again and again.
        if is_transient(error):
            raise
        return None


class PaymentConsumer:
    def __init__(self, ctx: WorkerContext, policy: DunningPolicy) -> None:
        self.ctx = ctx
        self.policy = policy
        self.log = ctx.log.bind(topic=PAYMENTS.name, path="payments-batch")
        # The fallback: the per-record projection, with its own metrics and dead letters.
        self.one_by_one = RecordProcessor(Projection(PAYMENTS, payment_handlers(policy)), ctx)

    def build_consumer(self) -> AIOKafkaConsumer:
        s = self.ctx.settings
        return AIOKafkaConsumer(
            PAYMENTS.name,
            bootstrap_servers=s.require_bootstrap(),
            group_id=f"{s.app_id}-payments",
            client_id=f"{s.app_id}-payments",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(s.broker_session_timeout_s * 1000),
            heartbeat_interval_ms=int(s.broker_heartbeat_interval_s * 1000),
            max_poll_records=BATCH_MAX,
            fetch_max_wait_ms=50,  # the embedded broker holds a fetch for its whole wait (see the usage consumer)
        )

    async def run(self, stopping: asyncio.Event) -> None:
        consumer = self.build_consumer()
        await retry_transient(consumer.start, self._on_retry)
        try:
            while not stopping.is_set():
                records = await consumer.getmany(timeout_ms=BATCH_WAIT_MS, max_records=BATCH_MAX)
                if records:
                    lanes: list[list[RawMessage]] = [[] for _ in range(LANES)]
                    for tp, fetched in records.items():
                        lanes[tp.partition % LANES] += [RawMessage.of(r) for r in fetched]
                    await all_or_none([self.handle(lane) for lane in lanes if lane])
                    await self._commit(consumer, records)
                self._update_lag(consumer)
        finally:
            await consumer.stop()

    async def handle(self, messages: list[RawMessage]) -> None:
        metrics = self.ctx.metrics
        with metrics.batch_seconds.labels(PAYMENTS.name).time():
            pool = await self.ctx.pool()
            result = await retry_transient(lambda: apply_lane(pool, self.policy, messages), self._on_retry)
        if result is None:
            self.log.warning("payment batch applied record by record", records=len(messages))
            for message in messages:
                await self.one_by_one.process(message)
            return
        metrics.events_in.labels(PAYMENTS.name).inc(len(messages))
        for event in result.applied:
            metrics.events_applied.labels(PAYMENTS.name, event.type).inc()
        metrics.events_duplicate.labels(PAYMENTS.name).inc(result.duplicates)
        for message, rejection in result.dead:
            metrics.dead_letters.labels(PAYMENTS.name, str(rejection.kind)).inc()
            self.log.warning(
                "dead-lettered",
                partition=message.partition,
                offset=message.offset,
                kind=str(rejection.kind),
                reason=rejection.reason[:300],
            )
        if result.dead or result.restored:
            self.ctx.outbox_signal.set()  # dead letters and restorations wait in the outbox
        self.log.debug("payment batch applied", received=len(messages), applied=len(result.applied))

    async def _commit(self, consumer: AIOKafkaConsumer, records: dict) -> None:
        offsets = {tp: max(r.offset for r in fetched) + 1 for tp, fetched in records.items()}
        try:
            await consumer.commit(offsets)
            for tp, offset in offsets.items():
                self.ctx.done_up_to(tp.topic, tp.partition, offset)
        except (CommitFailedError, IllegalStateError) as error:
            # The partitions moved to another worker mid-batch; it will replay them and the keys absorb it.
            self.log.warning("offset commit refused after rebalance", error=repr(error))

    def _update_lag(self, consumer: AIOKafkaConsumer) -> None:
        assignment: set[TopicPartition] = consumer.assignment()
        self.ctx.metrics.assigned_partitions.labels(PAYMENTS.name).set(len(assignment))
        for tp in assignment:
            self.ctx.observe_lag(tp.topic, tp.partition, consumer.highwater(tp))

    def _on_retry(self, error: BaseException, attempt: int) -> None:
        self.ctx.metrics.retries.labels(PAYMENTS.name).inc()
        self.log.warning("transient failure, retrying payment batch", error=repr(error), attempt=attempt)
