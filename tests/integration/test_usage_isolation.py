"""A record whose values PostgreSQL cannot store costs only itself: the rest of its batch is billed, and it
becomes a dead letter with the reason and its position, in the same transaction.

The decoder refuses what it can know (a NUL byte in text, tests/integration/test_event_flow.py); these records are
forged past it, as a value the decoder does not foresee would get past it. Each test runs in a transaction of
the session stack's PostgreSQL that it rolls back, so it leaves nothing behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from billing.entrypoints.stack.loadgen import Population, record_of
from billing.invoicing.rules.catalog import demo_catalog
from billing.platform.decoding import RawMessage
from billing.platform.topics import USAGE
from billing.usage.batch import prepare
from billing.usage.writer import UsageWriter
from tests.integration.helpers import unique

pytestmark = pytest.mark.integration
OPENED = datetime(2026, 11, 1, tzinfo=UTC)
FAR_OFFSET = 10**15  # positions no real record of the session has


@pytest.fixture
async def conn(live) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(live.require_database_url())
    rollback = connection.transaction()
    await rollback.start()
    try:
        yield connection
    finally:
        await rollback.rollback()
        await connection.close()


async def _opened(conn: asyncpg.Connection) -> Population:
    population = Population.of(1, start=OPENED, prefix=unique("iso"))
    account = population.account_ids[0]
    await conn.execute(
        "INSERT INTO accounts (account_id, plan_id, billing_anchor_day, currency, jurisdiction, contact, status,"
        " opened_at) VALUES ($1, 'mobile-s', 1, 'EUR', 'DE', '{}', 'active', $2)",
        account,
        OPENED,
    )
    await conn.execute(
        "INSERT INTO account_plan_changes (event_id, account_id, plan_id, effective_at)"
        " VALUES ($1, $2, 'mobile-s', $3)",
        f"open-{account}",
        account,
        OPENED,
    )
    return population


@pytest.mark.parametrize(
    ("forged_source", "because"),
    [
        ("switch\x00one", "CharacterNotInRepertoireError"),  # PostgreSQL: invalid byte sequence 0x00
        ("switch\ud800one", "UnicodeEncodeError"),
    ],  # asyncpg cannot encode a lone surrogate as UTF-8
)
async def test_one_unstorable_record_is_dead_lettered_and_its_batch_is_billed(
    live, conn, forged_source: str, because: str
) -> None:
    population = await _opened(conn)
    account = population.account_ids[0]
    records = [record_of(e) for e in population.usage(6, id_prefix=unique("b"))]
    messages = [RawMessage(USAGE.name, 0, FAR_OFFSET + n, r.key, r.value) for n, r in enumerate(records)]
    batch = prepare(messages)
    assert len(batch.usages) == 6
    batch.usages[3] = batch.usages[3]._replace(source=forged_source)

    result = await UsageWriter(demo_catalog(), live).apply(conn, batch)

    assert result.inserted == 5 and result.duplicates == 0
    [(message, rejection)] = result.dead
    assert (message.offset, str(rejection.kind)) == (FAR_OFFSET + 3, "failed")
    assert because in rejection.reason
    stored = await conn.fetch("SELECT event_id FROM usage_events WHERE account_id = $1", account)
    assert sorted(r["event_id"] for r in stored) == sorted(u.event_id for n, u in enumerate(batch.usages) if n != 3)
    assert await conn.fetchval("SELECT sum(events) FROM cycle_usage WHERE account_id = $1", account) == 5
    letter = await conn.fetchrow(
        "SELECT error_kind, original_value FROM dead_letters WHERE source_topic = $1"
        ' AND partition = 0 AND "offset" = $2',
        USAGE.name,
        FAR_OFFSET + 3,
    )
    assert letter["error_kind"] == "failed" and bytes(letter["original_value"]) == messages[3].value


async def test_an_event_id_reused_for_another_record_is_a_dead_letter_not_a_silent_duplicate(live, conn) -> None:
    """The record (source, record_id) decides what is a copy; the event id stays unique. A producer that reuses an
    event id for a different record gets that record back as a dead letter with the reason, and the rest of the
    batch is billed."""
    population = await _opened(conn)
    records = [record_of(e) for e in population.usage(4, id_prefix=unique("r"))]
    messages = [RawMessage(USAGE.name, 1, FAR_OFFSET + n, r.key, r.value) for n, r in enumerate(records)]
    batch = prepare(messages)
    batch.usages[2] = batch.usages[2]._replace(event_id=batch.usages[0].event_id)  # a different record, same id

    result = await UsageWriter(demo_catalog(), live).apply(conn, batch)

    assert result.inserted == 3
    [(message, rejection)] = result.dead
    assert message.offset == FAR_OFFSET + 2 and "reused an event id" in rejection.reason
