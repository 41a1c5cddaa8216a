"""Apply one record of a workflow topic: decode, claim its id, run its handler, or dead-letter it.

The whole effect (idempotency key, projection rows, outbox events, or the dead letter) is one PostgreSQL
transaction. The offset is committed by the consumer only after this returns, so a crash anywhere replays the
record and the idempotency key turns the replay into a no-op: at-least-once delivery, exactly-once effect.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import asyncpg
import structlog

from billing.contracts import Event
from billing.platform.context import WorkerContext
from billing.platform.decoding import ErrorKind, RawMessage, Rejection, decode
from billing.platform.retry import is_transient, retry_transient
from billing.platform.store import claim_event, record_dead_letters
from billing.platform.topics import TopicSpec

Handler = Callable[[asyncpg.Connection, Event], Awaitable[None]]


class Rejected(Exception):
    """A business rule refuses a valid event; it goes to the dead-letter topic with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


@dataclass
class EventProcessor:
    spec: TopicSpec
    handlers: Mapping[str, Handler]
    ctx: WorkerContext

    async def process(self, message: RawMessage) -> Outcome:
        metrics = self.ctx.metrics
        metrics.events_in.labels(self.spec.name).inc()
        decoded = decode(message, self.spec)
        log = self.ctx.log.bind(topic=message.topic, partition=message.partition, offset=message.offset)
        if not isinstance(decoded, Rejection):
            log = log.bind(event_id=decoded.event_id, event_type=decoded.type, account_id=decoded.payload.account_id)

        def on_retry(error: BaseException, attempt: int) -> None:
            metrics.retries.labels(self.spec.name).inc()
            log.warning("transient failure, retrying", error=repr(error), attempt=attempt)

        with metrics.batch_seconds.labels(self.spec.name).time():
            outcome, rejection = await retry_transient(lambda: self._apply(message, decoded), on_retry)
        self._observe(outcome, rejection, decoded, log)
        if outcome is not Outcome.DUPLICATE:
            self.ctx.outbox_signal.set()
        return outcome

    async def _apply(self, message: RawMessage, decoded: Event | Rejection) -> tuple[Outcome, Rejection | None]:
        pool = await self.ctx.pool()
        async with pool.acquire() as conn, conn.transaction():
            if isinstance(decoded, Rejection):
                return await self._dead_letter(conn, message, decoded)
            try:
                # A savepoint: a refused event leaves neither its key nor half an effect behind.
                async with conn.transaction():
                    if not await claim_event(conn, decoded.event_id, decoded.type, message):
                        return Outcome.DUPLICATE, None
                    await self.handlers[decoded.type](conn, decoded)
            except Rejected as refusal:
                return await self._dead_letter(conn, message, Rejection(ErrorKind.REJECTED, refusal.reason))
            except Exception as error:  # noqa: BLE001 - a bug must not stop the partition; transient ones retry
                if is_transient(error):
                    raise
                return await self._dead_letter(conn, message, Rejection(ErrorKind.FAILED, repr(error)))
            return Outcome.APPLIED, None

    async def _dead_letter(
        self, conn: asyncpg.Connection, message: RawMessage, rejection: Rejection
    ) -> tuple[Outcome, Rejection | None]:
        new = await record_dead_letters(conn, [(message, rejection)])
        return (Outcome.DEAD_LETTERED, rejection) if new else (Outcome.DUPLICATE, None)

    def _observe(
        self, outcome: Outcome, rejection: Rejection | None, decoded: Event | Rejection, log: structlog.BoundLogger
    ) -> None:
        metrics = self.ctx.metrics
        if outcome is Outcome.APPLIED and not isinstance(decoded, Rejection):
            metrics.events_applied.labels(self.spec.name, decoded.type).inc()
            log.debug("event applied")
        elif outcome is Outcome.DUPLICATE:
            metrics.events_duplicate.labels(self.spec.name).inc()
            log.debug("duplicate ignored")
        elif rejection is not None:
            metrics.dead_letters.labels(self.spec.name, str(rejection.kind)).inc()
            log.warning("dead-lettered", kind=str(rejection.kind), reason=rejection.reason[:300])
