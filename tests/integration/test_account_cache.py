"""The usage path's account cache never rates with stale account facts, including changes committed by a
transaction that was still open when the cache last read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from billing.usage.account_cache import AccountCache
from tests.integration.helpers import unique

pytestmark = pytest.mark.integration
OPENED = datetime(2026, 3, 1, tzinfo=UTC)


async def _open(conn: asyncpg.Connection, account_id: str, plan: str = "mobile-s") -> None:
    await conn.execute(
        "INSERT INTO accounts (account_id, plan_id, billing_anchor_day, currency, jurisdiction, contact, status,"
        " opened_at) VALUES ($1, $2, 1, 'EUR', 'DE', '{}', 'active', $3)",
        account_id,
        plan,
        OPENED,
    )
    await _change_plan(conn, f"open-{account_id}", account_id, plan, OPENED)


async def _change_plan(conn: asyncpg.Connection, event_id: str, account_id: str, plan: str, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO account_plan_changes (event_id, account_id, plan_id, effective_at) VALUES ($1, $2, $3, $4)",
        event_id,
        account_id,
        plan,
        at,
    )


@pytest.fixture
async def conns(live):
    opened = [await asyncpg.connect(live.require_database_url()) for _ in range(2)]
    yield opened
    for conn in opened:
        await conn.close()


async def test_a_plan_change_and_a_closing_reach_the_next_read(conns) -> None:
    reader, writer = conns
    cache, account, unknown = AccountCache(), unique("acc-cache"), unique("acc-none")
    await _open(writer, account)
    first = await cache.views(reader, [account, unknown])
    assert list(first) == [account] and first[account].plan_periods == ((OPENED, "mobile-s"),)
    assert (await cache.views(reader, [account]))[account] is first[account]  # served from memory
    assert (cache.hits, cache.misses) == (1, 2)

    change_at = OPENED + timedelta(days=10)
    await _change_plan(writer, unique("chg"), account, "mobile-l", change_at)
    changed = (await cache.views(reader, [account]))[account]
    assert changed.plan_periods == ((OPENED, "mobile-s"), (change_at, "mobile-l"))

    closed_at = OPENED + timedelta(days=20)
    await writer.execute(
        "UPDATE accounts SET closed_at = $2, status = 'closed' WHERE account_id = $1", account, closed_at
    )
    assert (await cache.views(reader, [account]))[account].closed_at == closed_at


async def test_a_change_committed_after_a_read_began_is_seen_by_the_next_read(conns) -> None:
    """The plan change's transaction is open while the cache reads (and keeps) the old facts; it commits
    later with an older transaction id than anything the cache read afterwards: the horizon still catches it."""
    reader, writer = conns
    cache, account = AccountCache(), unique("acc-cache")
    await _open(writer, account)
    change_at = OPENED + timedelta(days=5)
    slow = writer.transaction()
    await slow.start()
    await _change_plan(writer, unique("chg"), account, "mobile-l", change_at)
    stale = await cache.views(reader, [account])  # cannot see the uncommitted change
    assert stale[account].plan_periods == ((OPENED, "mobile-s"),)
    await cache.views(reader, [unique("acc-other")])  # another read moves the cache on meanwhile
    await slow.commit()
    fresh = await cache.views(reader, [account])
    assert fresh[account].plan_periods == ((OPENED, "mobile-s"), (change_at, "mobile-l"))


async def test_past_its_size_the_cache_starts_over_instead_of_growing(conns) -> None:
    reader, writer = conns
    accounts = [unique("acc-cache") for _ in range(3)]
    for account in accounts:
        await _open(writer, account)
    cache = AccountCache(max_entries=2)
    assert set(await cache.views(reader, accounts[:2])) == set(accounts[:2])
    assert set(await cache.views(reader, accounts[2:])) == {accounts[2]}
    assert len(cache) == 1
