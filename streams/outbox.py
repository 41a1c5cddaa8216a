"""Publishes what processors wrote to the outbox table, in order, then marks it published.

Effects and the events they cause commit together in PostgreSQL; this relay moves them to Kafka afterwards.
A crash between the send and the mark re-sends on restart (at-least-once), which consumers absorb by event id.
Only one relay in the consumer group publishes at a time (an advisory lock), so events leave in table order.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from streams.context import WorkerContext
from streams.retry import retry_transient

_RELAY_LOCK = 0x6B2222  # arbitrary constant: "billing outbox relay"
_PRUNE_EVERY_S = 600


class OutboxRelay:
    def __init__(self, ctx: WorkerContext, batch_size: int = 1000) -> None:
        self.ctx = ctx
        self.batch_size = batch_size
        self._last_prune = time.monotonic()

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
        async with pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _RELAY_LOCK):
                return 0
            rows = await conn.fetch(
                "SELECT id, topic, key, value FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1",
                self.batch_size,
            )
            if not rows:
                self.ctx.metrics.outbox_pending.set(0)
                return 0
            sent = [await producer.send(r["topic"], r["value"], key=r["key"]) for r in rows]
            await asyncio.gather(*sent)
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
            )
        for row in rows:
            self.ctx.metrics.events_out.labels(row["topic"]).inc()
        return len(rows)

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
        # Published rows are kept a day for inspection; the topics are the record after that.
        await pool.execute("DELETE FROM outbox WHERE published_at < now() - interval '1 day'")

    def _on_retry(self, error: BaseException, attempt: int) -> None:
        self.ctx.log.warning("outbox relay retrying", error=repr(error), attempt=attempt)
