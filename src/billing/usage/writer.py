"""Apply a prepared usage batch inside one transaction: skip known ids, rate, store, park, dead-letter.

Shared by the usage consumer and the parked-usage sweeper, so a parked record is rated by exactly the
same code as a fresh one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from billing.invoicing.rules.catalog import Catalog
from billing.platform.decoding import ErrorKind, RawMessage, Rejection
from billing.platform.retry import caused_by_data
from billing.platform.settings import Settings
from billing.platform.store import record_dead_letters
from billing.usage.account_cache import AccountCache
from billing.usage.batch import PreparedBatch, usage_row
from billing.usage.rules.rating import AccountView, RatingLimits, RatingOutcome, rate_batch
from billing.usage.store import insert_rated, insert_rated_isolating, known_records, park

# Records decoded or rated before the event loop gets a turn. The previous batch's transaction runs meanwhile,
# a handful of round trips each waiting for the loop: one 5,000-record stretch of pure Python held each of
# them up by tens of milliseconds, and the whole pipeline with them (tools/bench/PROFILE.md).
SLICE = 500


@dataclass(frozen=True)
class Assessment:
    outcome: RatingOutcome  # indexes in batch.usages; records billed before are left out of refused and parked
    known: int  # refused or parked records that were billed before (duplicates)


@dataclass
class ApplyResult:
    inserted: int = 0
    duplicates: int = 0
    parked: list[str] = field(default_factory=list)  # event ids still waiting for their account
    dead: list[tuple[RawMessage, Rejection]] = field(default_factory=list)
    isolated_after: Exception | None = None  # the data error that made the batch be stored record by record


class UsageWriter:
    def __init__(self, catalog: Catalog, settings: Settings) -> None:
        self.catalog = catalog
        self.settings = settings
        self.accounts = AccountCache()

    def limits(self, now: datetime | None = None) -> RatingLimits:
        s = self.settings
        return RatingLimits(
            now=now or datetime.now(UTC),
            max_future_skew=timedelta(seconds=s.max_future_skew_s),
            close_grace=timedelta(seconds=s.cycle_close_grace_s),
            late_limit=timedelta(days=s.late_usage_limit_days),
        )

    async def apply(self, conn: asyncpg.Connection, batch: PreparedBatch) -> ApplyResult:
        """Assess and write in one go, on one connection (the caller holds the transaction)."""
        return await self.write(conn, batch, await self.assess(conn, batch))

    async def write(
        self, conn: asyncpg.Connection, batch: PreparedBatch, assessment: Assessment, stage_ready: bool = False
    ) -> ApplyResult:
        """`store` in a transaction of its own (a savepoint inside the caller's). If PostgreSQL refuses a value of
        some record (a NUL byte in text, a total beyond bigint), the batch is stored again with each such record
        set aside as a dead letter, so one record never stops its partition nor takes its batch down with it."""
        try:
            async with conn.transaction():
                return await self.store(conn, batch, assessment, stage_ready)
        except Exception as error:  # noqa: BLE001 - only data errors are handled; anything else is raised
            if not caused_by_data(error):
                raise
            refused = error
        async with conn.transaction():
            result = await self.store(conn, batch, assessment, stage_ready, isolate=True)
        result.isolated_after = refused
        return result

    async def assess(
        self, conn: asyncpg.Connection, batch: PreparedBatch, read: Mapping[str, AccountView] | None = None
    ) -> Assessment:
        """Reads and rating only: how each record is rated, and which refused or parked ones were billed before.

        Safe to run before, and outside, the transaction that stores the result: the event-id key and
        ON CONFLICT in `store` are the duplicate guard, and an account read a moment earlier is what a
        transaction started a moment earlier would have read. The usage consumer does exactly that, so
        the next batch is assessed while the previous one is being written. ``read`` holds account views the
        caller already read for this batch (by record key, while the batch was decoded); only the others are read.
        """
        accounts: Mapping[str, AccountView] = read if read is not None else {}
        unread = {u.account_id for u in batch.usages} - accounts.keys()
        if unread:  # a new mapping: the caller's is shared by the batch's lanes
            accounts = {**accounts, **await self.accounts.views(conn, unread)}
        outcome, limits = RatingOutcome(), self.limits()
        for start in range(0, len(batch.usages), SLICE):
            outcome.extend(rate_batch(batch.usages[start : start + SLICE], accounts, self.catalog, limits), start)
            await asyncio.sleep(0)  # let the previous batch's transaction move on (see SLICE)
        # A redelivered record (or the same call detail record re-sent under a new event id) that a rule now
        # refuses (past its late limit, say) or parks was billed the first time: a duplicate, not a dead letter.
        # Rated records need no lookup (ON CONFLICT skips them in `store`), which spares the common case a key
        # probe per record.
        unsettled = [i for i, _ in outcome.refused] + outcome.parked
        known = await known_records(conn, [batch.usages[i] for i in unsettled]) if unsettled else set()
        if known:
            outcome.refused = [(i, r) for i, r in outcome.refused if batch.usages[i].event_id not in known]
            outcome.parked = [i for i in outcome.parked if batch.usages[i].event_id not in known]
        return Assessment(outcome, len(unsettled) - len(outcome.refused) - len(outcome.parked))

    async def store(
        self,
        conn: asyncpg.Connection,
        batch: PreparedBatch,
        assessment: Assessment,
        stage_ready: bool = False,
        isolate: bool = False,
    ) -> ApplyResult:
        """Write an assessed batch: rated rows with their cycle totals, dead letters, parked records.
        ``isolate``: rows PostgreSQL cannot store are found one by one and dead-lettered (see `write`)."""
        result = ApplyResult(duplicates=assessment.known)
        outcome, messages = assessment.outcome, batch.messages
        rows = [usage_row(row, messages[i]) for i, row in outcome.rated]
        unstorable: list[tuple[int, Exception]] = []
        if rows and isolate:
            inserted, unstorable = await insert_rated_isolating(conn, rows)
        else:
            inserted = await insert_rated(conn, rows, stage_ready) if rows else 0
        result.inserted = inserted
        result.duplicates += len(rows) - len(unstorable) - inserted
        rejections = list(batch.rejections)
        rejections += [
            (RawMessage.of(messages[i]), Rejection(ErrorKind.REJECTED, reason)) for i, reason in outcome.refused
        ]
        rejections += [
            (RawMessage.of(messages[outcome.rated[n][0]]), Rejection(ErrorKind.FAILED, _unstorable(error)))
            for n, error in unstorable
        ]
        if rejections:
            result.dead = await record_dead_letters(conn, rejections)
        if outcome.parked:
            waiting = [(batch.usages[i], messages[i]) for i in outcome.parked]
            await park(conn, [(usage.event_id, usage.account_id, message) for usage, message in waiting])
            result.parked = [usage.event_id for usage, _ in waiting]
        return result


def _unstorable(error: Exception) -> str:
    if isinstance(error, asyncpg.UniqueViolationError):  # the event id; a copy of the record would be skipped
        return (
            "its event id is already billed for a different record (another source or record id): the producer"
            " reused an event id; the rest of its batch was stored"
        )
    return f"PostgreSQL cannot store this record ({type(error).__name__}: {error}); the rest of its batch was stored"
