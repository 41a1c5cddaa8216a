"""The one template for processing a record: decode, effect under its idempotency key, or dead letter; offsets.

Every consumer of a workflow topic (the projections with their routing, the retention follower, the queue
metrics) is a `RecordConsumer`: it says which events it wants and applies one inside the record's
transaction; `RecordProcessor` does the rest, the same way for all of them:
* decode the raw bytes (src/billing/platform/decoding.py); an undecodable or invalid record is a dead letter;
* an event the consumer does not want is SKIPPED without opening a transaction;
* otherwise one PostgreSQL unit of work holds the effect, its idempotency key and its outbox rows (the
  consumer's `apply`, in a savepoint, so that a refusal leaves neither its key nor half an effect behind);
  `Rejected` (a business rule) and a bug become a dead letter with the reason and the record's position, in
  the same transaction; database and broker outages are retried, never dead-lettered;
* after the commit, `after_commit` may refresh a cache (a Faust table cell) derived from what committed.
The offset is committed by the consumer only after this returns, so a crash anywhere replays the record and
the idempotency key turns the replay into a no-op: at-least-once delivery, exactly-once effect. A dead letter
is unique by source position, so two consumers of one record dead-letter it once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import asyncpg
import structlog

from billing.contracts import Event
from billing.platform.context import WorkerContext
from billing.platform.decoding import ErrorKind, RawMessage, Rejection, decode
from billing.platform.retry import is_transient, retry_transient
from billing.platform.store import claim_event, record_dead_letters
from billing.platform.topics import TopicSpec
from billing.platform.unit_of_work import unit_of_work

Handler = Callable[[asyncpg.Connection, Event], Awaitable[None]]


class Rejected(Exception):
    """A business rule refuses a valid event; it goes to the dead-letter topic with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Outcome(StrEnum):
    APPLIED = "applied"  # the effect committed
    DUPLICATE = "duplicate"  # the idempotency key was there: the effect committed before, nothing written
    SKIPPED = "skipped"  # an event this consumer has no effect for: no transaction at all
    DEAD_LETTERED = "dead_lettered"  # stored once by position, with its reason, for the dead-letter topic


class RecordConsumer(Protocol):
    spec: TopicSpec
    name: str  # in logs and agent names: "projection", "retention", "queue-metrics"
    # The topic's own consumer counts its records in the metrics (events in, applied, duplicate, lag) and
    # writes outbox events; a second consumer of the same records (retention, queue metrics) must not count
    # them again.
    primary: bool

    def wants(self, event: Event, message: RawMessage) -> bool:
        """False: no effect for this event (SKIPPED without touching the database)."""
        ...

    async def apply(self, conn: asyncpg.Connection, event: Event, message: RawMessage) -> Outcome:
        """The effect and its idempotency key, on `conn` inside the record's transaction: APPLIED or DUPLICATE.
        Raise `Rejected` to dead-letter a valid event; it may run again after a transient failure."""
        ...

    async def after_commit(self, event: Event, message: RawMessage, outcome: Outcome) -> None:
        """After the commit of an APPLIED or DUPLICATE event (a cache refresh, follow-up transactions)."""
        ...


@dataclass
class RecordProcessor:
    consumer: RecordConsumer
    ctx: WorkerContext

    async def process(self, message: RawMessage) -> Outcome:
        spec, metrics, primary = self.consumer.spec, self.ctx.metrics, self.consumer.primary
        if primary:
            metrics.events_in.labels(spec.name).inc()
        decoded = decode(message, spec)
        log = self.ctx.log.bind(
            topic=message.topic, partition=message.partition, offset=message.offset, consumer=self.consumer.name
        )
        if not isinstance(decoded, Rejection):
            log = log.bind(event_id=decoded.event_id, event_type=decoded.type, account_id=decoded.payload.account_id)
            try:
                if not self.consumer.wants(decoded, message):
                    return Outcome.SKIPPED
            except Exception as error:  # noqa: BLE001 - a bug must not stop the partition
                decoded = Rejection(ErrorKind.FAILED, repr(error))

        def on_retry(error: BaseException, attempt: int) -> None:
            metrics.retries.labels(spec.name).inc()
            log.warning("transient failure, retrying", error=repr(error), attempt=attempt)

        with metrics.batch_seconds.labels(spec.name).time():
            outcome, rejection = await retry_transient(lambda: self._apply(message, decoded), on_retry)
        if not isinstance(decoded, Rejection) and outcome is not Outcome.DEAD_LETTERED:
            await self.consumer.after_commit(decoded, message, outcome)
        self._observe(outcome, rejection, decoded, log)
        if outcome is Outcome.DEAD_LETTERED or (primary and outcome is Outcome.APPLIED):
            self.ctx.outbox_signal.set()
        if primary:
            self.ctx.done_up_to(message.topic, message.partition, message.offset + 1)
        return outcome

    async def _apply(self, message: RawMessage, decoded: Event | Rejection) -> tuple[Outcome, Rejection | None]:
        async with unit_of_work(await self.ctx.pool()) as conn:
            if isinstance(decoded, Rejection):
                return await self._dead_letter(conn, message, decoded)
            try:
                # A savepoint: a refused event leaves neither its key nor half an effect behind.
                async with unit_of_work(conn):
                    return await self.consumer.apply(conn, decoded, message), None
            except Rejected as refusal:
                return await self._dead_letter(conn, message, Rejection(ErrorKind.REJECTED, refusal.reason))
            except Exception as error:  # noqa: BLE001 - a bug must not stop the partition; transient ones retry
                if is_transient(error):
                    raise
                return await self._dead_letter(conn, message, Rejection(ErrorKind.FAILED, repr(error)))

    async def _dead_letter(
        self, conn: asyncpg.Connection, message: RawMessage, rejection: Rejection
    ) -> tuple[Outcome, Rejection | None]:
        new = await record_dead_letters(conn, [(message, rejection)])
        # Already stored (a replay, or the other consumer of this record got there first): nothing new.
        return (Outcome.DEAD_LETTERED, rejection) if new else (Outcome.DUPLICATE, None)

    def _observe(
        self,
        outcome: Outcome,
        rejection: Rejection | None,
        decoded: Event | Rejection,
        log: structlog.stdlib.BoundLogger,
    ) -> None:
        metrics, topic, primary = self.ctx.metrics, self.consumer.spec.name, self.consumer.primary
        if outcome is Outcome.APPLIED and not isinstance(decoded, Rejection):
            if primary:
                metrics.events_applied.labels(topic, decoded.type).inc()
            log.debug("event applied")
        elif outcome is Outcome.DUPLICATE:
            if primary:
                metrics.events_duplicate.labels(topic).inc()
            log.debug("duplicate ignored")
        elif rejection is not None:
            metrics.dead_letters.labels(topic, str(rejection.kind)).inc()
            log.warning("dead-lettered", kind=str(rejection.kind), reason=rejection.reason[:300])


@dataclass
class Projection:
    """A topic's projection: each event type's handler writes its rows (and outbox events) under the event id
    as idempotency key (`processed_events`), so a redelivered or re-sent event is a DUPLICATE."""

    spec: TopicSpec
    handlers: Mapping[str, Handler]
    name: str = "projection"
    primary: bool = True

    def wants(self, event: Event, message: RawMessage) -> bool:
        return True  # every type the topic carries has a handler; the claim is what a duplicate hits

    async def apply(self, conn: asyncpg.Connection, event: Event, message: RawMessage) -> Outcome:
        if not await claim_event(conn, event.event_id, event.type, message):
            return Outcome.DUPLICATE
        await self.handlers[event.type](conn, event)
        return Outcome.APPLIED

    async def after_commit(self, event: Event, message: RawMessage, outcome: Outcome) -> None:
        return None
