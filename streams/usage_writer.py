"""Apply a prepared usage batch inside one transaction: skip known ids, rate, store, park, dead-letter.

Shared by the usage consumer and the parked-usage sweeper, so a parked record is rated by exactly the
same code as a fresh one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from streams.billing.catalog import Catalog
from streams.decoding import ErrorKind, RawMessage, Rejection
from streams.settings import Settings
from streams.store import record_dead_letters
from streams.usage_batch import PreparedBatch, usage_row
from streams.usage_rating import RatingLimits, RatingOutcome, rate_batch
from streams.usage_store import advance_watermarks, insert_rated, known_event_ids, load_accounts, park


@dataclass(frozen=True)
class Assessment:
    fresh: list[int]  # indexes in batch.usages of the records not billed before
    outcome: RatingOutcome  # indexes in `fresh`
    known: int  # records already billed


@dataclass
class ApplyResult:
    inserted: int = 0
    duplicates: int = 0
    parked: list[str] = field(default_factory=list)  # event ids still waiting for their account
    dead: list[tuple[RawMessage, Rejection]] = field(default_factory=list)


class UsageWriter:
    def __init__(self, catalog: Catalog, settings: Settings) -> None:
        self.catalog = catalog
        self.settings = settings

    def limits(self, now: datetime | None = None) -> RatingLimits:
        s = self.settings
        return RatingLimits(
            now=now or datetime.now(UTC),
            max_future_skew=timedelta(seconds=s.max_future_skew_s),
            close_grace=timedelta(seconds=s.cycle_close_grace_s),
            late_limit=timedelta(days=s.late_usage_limit_days),
        )

    async def apply(self, conn: asyncpg.Connection, batch: PreparedBatch) -> ApplyResult:
        """Assess and store in one go, on one connection (the caller holds the transaction)."""
        return await self.store(conn, batch, await self.assess(conn, batch))

    async def assess(self, conn: asyncpg.Connection, batch: PreparedBatch) -> Assessment:
        """Reads and rating only: which records are already billed, and how each fresh one is rated.

        Safe to run before, and outside, the transaction that stores the result: the event-id key and
        ON CONFLICT in `store` are the duplicate guard, and an account read a moment earlier is what a
        transaction started a moment earlier would have read. The usage consumer does exactly that, so
        the next batch is assessed while the previous one is being written.
        """
        known = await known_event_ids(conn, [u.event_id for u in batch.usages]) if batch.usages else set()
        fresh = [i for i, u in enumerate(batch.usages) if u.event_id not in known]
        accounts = await load_accounts(conn, {batch.usages[i].account_id for i in fresh})
        outcome = rate_batch([batch.usages[i] for i in fresh], accounts, self.catalog, self.limits())
        return Assessment(fresh, outcome, len(batch.usages) - len(fresh))

    async def store(self, conn: asyncpg.Connection, batch: PreparedBatch, assessment: Assessment) -> ApplyResult:
        """Write an assessed batch: rated rows with their cycle totals, dead letters, parked records."""
        result = ApplyResult(duplicates=assessment.known)
        fresh, outcome = assessment.fresh, assessment.outcome
        rows = [usage_row(row, batch.messages[fresh[j]]) for j, row in outcome.rated]
        inserted = await insert_rated(conn, rows) if rows else 0
        result.inserted = inserted
        result.duplicates += len(rows) - inserted
        rejections = list(batch.rejections)
        rejections += [(batch.messages[fresh[j]], Rejection(ErrorKind.REJECTED, reason)) for j, reason in outcome.refused]
        if rejections:
            result.dead = await record_dead_letters(conn, rejections)
        waiting = [(batch.usages[fresh[j]], batch.messages[fresh[j]]) for j in outcome.parked]
        if waiting:
            await park(conn, [(u.event_id, u.account_id, m) for u, m in waiting])
            result.parked = [u.event_id for u, _ in waiting]
        await _advance(conn, outcome.rated, batch, fresh)
        return result


async def _advance(conn: asyncpg.Connection, rated, batch: PreparedBatch, fresh: list[int]) -> None:
    latest: dict[int, datetime] = {}
    for j, row in rated:
        partition = batch.messages[fresh[j]].partition
        if partition not in latest or row.usage.started_at > latest[partition]:
            latest[partition] = row.usage.started_at
    if latest:
        await advance_watermarks(conn, latest)
