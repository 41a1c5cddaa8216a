"""Rates parked usage once its account exists; dead-letters what waited longer than USAGE_PARK_LIMIT_S.

Usage and account lifecycle travel on different topics, so a call can be read before its account's opening.
Parking keeps it (durably, in the same transaction that would have billed it) instead of refusing it.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from billing.platform.context import WorkerContext
from billing.platform.decoding import ErrorKind, RawMessage, Rejection
from billing.platform.retry import retry_transient
from billing.platform.store import record_dead_letters
from billing.platform.topics import USAGE
from billing.platform.unit_of_work import unit_of_work
from billing.usage.batch import prepare
from billing.usage.writer import UsageWriter

_SWEEP_EVERY_S = 2.0
_BATCH = 5000


class ParkedUsageSweeper:
    def __init__(self, ctx: WorkerContext, writer: UsageWriter) -> None:
        self.ctx = ctx
        self.writer = writer

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            swept = await retry_transient(self.sweep_once, self._on_retry)
            if swept < _BATCH:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stopping.wait(), _SWEEP_EVERY_S)

    async def sweep_once(self) -> int:
        pool = await self.ctx.pool()
        async with unit_of_work(pool) as conn:
            rows = await conn.fetch(
                'SELECT p.event_id, p.partition, p."offset", p.key, p.value FROM parked_usage p'
                " WHERE EXISTS (SELECT 1 FROM accounts a WHERE a.account_id = p.account_id)"
                " ORDER BY p.parked_at LIMIT $1 FOR UPDATE SKIP LOCKED",
                _BATCH,
            )
            if rows:
                await self._rate(conn, rows)
            expired = await self._expire(conn)
        if rows or expired:
            self.ctx.outbox_signal.set()
            self.ctx.log.info("parked usage swept", rated_or_refused=len(rows), expired=expired)
        return len(rows)

    async def _rate(self, conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> None:
        batch = prepare(RawMessage(USAGE.name, r["partition"], r["offset"], r["key"], r["value"]) for r in rows)
        result = await self.writer.apply(conn, batch)
        done = [r["event_id"] for r in rows if r["event_id"] not in set(result.parked)]
        await conn.execute("DELETE FROM parked_usage WHERE event_id = ANY($1::text[])", done)
        metrics = self.ctx.metrics
        metrics.events_applied.labels(USAGE.name, "usage.recorded.v1").inc(result.inserted)
        metrics.events_duplicate.labels(USAGE.name).inc(result.duplicates)  # e.g. a record re-sent while parked
        for _, rejection in result.dead:
            metrics.dead_letters.labels(USAGE.name, str(rejection.kind)).inc()

    async def _expire(self, conn: asyncpg.Connection) -> int:
        limit_s = self.ctx.settings.usage_park_limit_s
        rows = await conn.fetch(
            "DELETE FROM parked_usage p WHERE parked_at < now() - make_interval(secs => $1)"
            " AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.account_id = p.account_id)"
            ' RETURNING account_id, partition, "offset", key, value',
            float(limit_s),
        )
        letters = [
            (
                RawMessage(USAGE.name, r["partition"], r["offset"], r["key"], r["value"]),
                Rejection(ErrorKind.REJECTED, f"account {r['account_id']} unknown after waiting {limit_s} s"),
            )
            for r in rows
        ]
        if letters:
            await record_dead_letters(conn, letters)
        return len(letters)

    def _on_retry(self, error: BaseException, attempt: int) -> None:
        self.ctx.log.warning("parked usage sweep retrying", error=repr(error), attempt=attempt)
