"""Publishes what processors wrote to the outbox table, in order, then marks it published.

Effects and the events they cause commit together in PostgreSQL; this relay moves them to Kafka afterwards.
A crash between the send and the mark re-sends on restart (at-least-once), which consumers absorb by event id.
Only one relay in the consumer group publishes at a time (an advisory lock), so events leave in table order.
A row is marked published only once the broker acknowledged it (acks=all, awaited) and the broker is seen to
hold it: its topic exists and its offset did not go backwards (src/billing/platform/broker_watch.py; the embedded broker
acknowledges records for a topic it lost in a restart and keeps none of them).

One topic that cannot take events (e.g. a queue topic the broker does not have) must not hold up the others:
each send waits at most OUTBOX_SEND_TIMEOUT_S, and a topic whose send failed is skipped, with all its later rows,
for a doubling backoff (src/billing/platform/outbox_backoff.py). Its rows stay in the table, in order, and are retried; after
every few failures in a row the topic is reported (log error + billing_outbox_topic_failing).

One row the broker refuses for what it is (too large, say), not because the broker is away, must not hold up its
topic for ever either: after PARK_AFTER such refusals it is parked (kept, out of the way, counted in
billing_outbox_parked_total, logged with what to do) and the topic's later rows go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTimestampError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from aiokafka.structs import RecordMetadata

from billing.platform.broker_watch import BrokerWatch
from billing.platform.context import WorkerContext
from billing.platform.outbox_backoff import TopicBackoff
from billing.platform.retry import retry_transient
from billing.platform.unit_of_work import unit_of_work

_RELAY_LOCK = 0x6B2222  # arbitrary constant: "billing outbox relay"
_PRUNE_EVERY_S = 600
PARK_AFTER = 3
# Refusals of one record for what it is; a broker that is down, slow or without the topic is never one of these.
ROW_ERRORS = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
    InvalidTimestampError,
)
Acked = tuple[asyncpg.Record, RecordMetadata]


class OutboxRelay:
    def __init__(self, ctx: WorkerContext, batch_size: int = 1000) -> None:
        self.ctx = ctx
        self.batch_size = batch_size
        self._last_prune = time.monotonic()
        self.backoff = TopicBackoff()
        self.watch = BrokerWatch(ctx)

    async def run(self, stopping: asyncio.Event) -> None:
        poll_s = self.ctx.settings.outbox_poll_ms / 1000
        while not stopping.is_set():
            published = await retry_transient(self.publish_pending, self._on_retry)
            if published < self.batch_size:
                await self._wait(poll_s, stopping)
            await self._maybe_prune()

    async def publish_pending(self) -> int:
        pool = await self.ctx.pool()
        producer = await self.ctx.producer()
        blocked = self.backoff.blocked(time.monotonic())
        async with unit_of_work(pool) as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _RELAY_LOCK):
                return 0
            await self.watch.check_if_due(conn, producer)
            rows = await conn.fetch(
                "SELECT id, topic, key, value, created_at FROM outbox WHERE published_at IS NULL AND parked_at IS NULL"
                " AND NOT (topic = ANY($2::text[])) ORDER BY id LIMIT $1",
                self.batch_size,
                blocked,
            )
            if not rows:
                self.ctx.metrics.outbox_pending.set(await _pending(conn) if blocked else 0)
                return 0
            failed = await self.watch.sendable(conn, producer, {row["topic"] for row in rows})
            acked, send_failed, refused_rows = await self._send(producer, [r for r in rows if r["topic"] not in failed])
            delivered, unconfirmed = await self.watch.confirmed(conn, producer, acked) if acked else ([], {})
            failed |= send_failed | unconfirmed
            if delivered:
                await conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", [r["id"] for r in delivered]
                )
            parked = await self._count_refusals(conn, refused_rows)
        self._account(delivered, failed, parked)
        return len(delivered)

    async def _send(
        self, producer: AIOKafkaProducer, rows: list[asyncpg.Record]
    ) -> tuple[list[Acked], dict[str, str], dict[int, tuple[asyncpg.Record, str]]]:
        """Send the rows in table order; return those acknowledged (with where), per failing topic why, and the
        rows the broker refused for what they are (by id).

        Once a topic fails, none of its later rows count as delivered (they are re-sent after the backoff), so a
        topic's rows are marked in order. Sends that outlast the timeout are given up (at-least-once: one that
        lands late is re-sent, and consumers absorb the duplicate by event id)."""
        timeout_s = self.ctx.settings.outbox_send_timeout_s
        failed: dict[str, str] = {}
        refused: dict[int, tuple[asyncpg.Record, str]] = {}
        pending: list[tuple[asyncpg.Record, asyncio.Future]] = []
        for row in rows:
            if row["topic"] in failed:
                continue
            try:
                future = await asyncio.wait_for(producer.send(row["topic"], row["value"], key=row["key"]), timeout_s)
            except (TimeoutError, KafkaError) as error:
                failed[row["topic"]] = repr(error) or "send timed out"
                if isinstance(error, ROW_ERRORS):
                    refused[row["id"]] = (row, repr(error))
                continue
            pending.append((row, future))
        if pending:
            await asyncio.wait([future for _, future in pending], timeout=timeout_s)
        acked: list[Acked] = []
        broken: set[str] = set()
        for row, future in pending:
            failure = _failure(future)
            if row["topic"] in broken or failure is not None:
                broken.add(row["topic"])
                failed.setdefault(row["topic"], failure or "after an earlier failure")
                exception = _exception(future)
                if isinstance(exception, ROW_ERRORS):
                    refused[row["id"]] = (row, repr(exception))
                future.cancel()
            else:
                acked.append((row, future.result()))
        return acked, failed, refused

    async def _count_refusals(
        self, conn: asyncpg.Connection, refused: dict[int, tuple[asyncpg.Record, str]]
    ) -> list[asyncpg.Record]:
        """One more refusal for each row; those refused PARK_AFTER times are parked. Returns the parked rows."""
        parked = []
        for row_id, (row, error) in refused.items():
            attempts = await conn.fetchval(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $2,"
                " parked_at = CASE WHEN attempts + 1 >= $3 THEN now() END WHERE id = $1 RETURNING attempts",
                row_id,
                error[:2000],
                PARK_AFTER,
            )
            if attempts is not None and attempts >= PARK_AFTER:
                parked.append(row)
        return parked

    def _account(self, delivered: list[asyncpg.Record], failed: dict[str, str], parked: list[asyncpg.Record]) -> None:
        now = time.monotonic()
        for row in delivered:
            self.ctx.metrics.events_out.labels(row["topic"]).inc()
        for row in parked:
            self._report_parked(row)
        for topic in {row["topic"] for row in delivered} - failed.keys():
            if self.backoff.succeeded(topic):
                self.ctx.metrics.outbox_topic_failing.labels(topic).set(0)
                self.ctx.log.info("outbox topic publishing again", topic=topic)
        for topic, error in failed.items():
            if topic in {row["topic"] for row in parked}:
                self.backoff.succeeded(topic)  # the row that held it is out of the way: its next rows go now
                continue
            failures = self.backoff.failed(topic, now)
            self.ctx.metrics.outbox_send_failures.labels(topic).inc()
            if self.backoff.should_report(failures):
                self.ctx.metrics.outbox_topic_failing.labels(topic).set(1)
                self.ctx.log.error(
                    "outbox topic cannot be published",
                    topic=topic,
                    failures=failures,
                    error=error,
                    action="its rows wait in the outbox and are retried; check that the topic exists"
                    " (`billing topics` creates every configured one) and the broker is healthy",
                )
            else:
                self.ctx.log.warning(
                    "outbox topic send failed; skipping it for now", topic=topic, error=error, failures=failures
                )

    def _report_parked(self, row: asyncpg.Record) -> None:
        self.ctx.metrics.outbox_parked.labels(row["topic"]).inc()
        since = row["created_at"].isoformat(timespec="seconds")
        self.ctx.log.error(
            "outbox row parked: the broker refuses it",
            outbox_id=row["id"],
            topic=row["topic"],
            bytes=len(row["value"]),
            refusals=PARK_AFTER,
            action="the topic's later rows go on; the row stays in the outbox table (SELECT id, topic, last_error"
            " FROM outbox WHERE parked_at IS NOT NULL). Once the broker can take it (e.g. a larger message.max.bytes),"
            f" re-queue it with `billing outbox replay --since {since} --topic {row['topic']}`",
        )

    async def _wait(self, poll_s: float, stopping: asyncio.Event) -> None:
        signal = self.ctx.outbox_signal
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(signal.wait(), timeout=poll_s)
        signal.clear()

    async def _maybe_prune(self) -> None:
        if time.monotonic() - self._last_prune < _PRUNE_EVERY_S:
            return
        self._last_prune = time.monotonic()
        pool = await self.ctx.pool()
        # Published rows are kept a day for inspection and for `billing outbox replay`; the topics are the record
        # after that.
        await pool.execute("DELETE FROM outbox WHERE published_at < now() - interval '1 day'")

    def _on_retry(self, error: BaseException, attempt: int) -> None:
        self.ctx.log.warning("outbox relay retrying", error=repr(error), attempt=attempt)


async def _pending(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL AND parked_at IS NULL")


def _failure(future: asyncio.Future) -> str | None:
    """None if the send was acknowledged; else why not (and the exception is retrieved, so never unobserved)."""
    if not future.done():
        return "no acknowledgement within the send timeout"
    if future.cancelled():
        return "cancelled"
    error = future.exception()
    return None if error is None else repr(error)


def _exception(future: asyncio.Future) -> BaseException | None:
    return future.exception() if future.done() and not future.cancelled() else None
