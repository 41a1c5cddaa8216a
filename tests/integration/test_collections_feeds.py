"""What collections feeds on the real broker and PostgreSQL (issue 13 point 4): good standing from overdue
invoices, refusing and then granting a discount through the agent API.

On the dated stack (no closer, so no dunning loop): dunning runs here with fixed event-time instants. The invoice
of 10,000 EUR minor units is due 2027-03-15, grace 3 days: overdue from the 19th.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from billing.collections.dunning_config import load_policy
from billing.collections.dunning_runner import run_dunning
from billing.identity.rules.roles import Role
from tests.integration.helpers import fetchval
from tests.integration.test_collections import _send, invoice, on, paid
from tests.integration.test_discounts_api import _auth, _call_task, api_world
from tests.integration.test_discounts_scenarios import _open_account

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def world(dated_stack):
    async for built in api_world(dated_stack.settings):
        yield built


@contextlib.asynccontextmanager
async def _pool(settings):
    pool = await asyncpg.create_pool(settings.require_database_url(), min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def _dunning(settings, account: str, as_of: datetime) -> None:
    async with _pool(settings) as pool:
        await run_dunning(pool, load_policy(settings), as_of, accounts=[account])


GOODWILL = {"kind": "fixed_next_invoice", "amount_minor": 2_000, "reason_code": "outage", "criteria": ["outage"]}


async def test_an_overdue_invoice_refuses_a_discount_until_it_is_paid(world) -> None:
    settings, client, pool = world["live"], world["client"], world["pool"]
    ann, token = world["people"][Role.AGENT]
    account = await _open_account(settings, datetime.now(UTC) - timedelta(days=30))
    inv = f"{account}-m3"
    await _send(settings, account, [invoice(account, inv, 3)], 1)
    # The 18th is the last day to pay: still in good standing; a pass on the 20th sees it overdue.
    await _dunning(settings, account, on(3, 18))
    dsn = settings.require_database_url()
    assert await fetchval(dsn, "SELECT overdue_from FROM collection_invoices WHERE invoice_id = $1", inv) is None
    await _dunning(settings, account, on(3, 20))
    task = await _call_task(pool, account, ann.agent_id)
    refused = await client.post(f"/tasks/{task}/discounts", json=GOODWILL, headers=_auth(token, "k-overdue"))
    assert refused.status_code == 422, refused.text
    assert refused.json() == {
        "error": "good_standing_required",
        "message": "good_standing_required: 1 overdue invoice(s); good standing is required",
    }
    assert await fetchval(dsn, "SELECT count(*) FROM discount_requests WHERE account_id = $1", account) == 0
    # The customer pays the 10,000: nothing is overdue, the same request (a new key) is granted.
    await _send(settings, account, [paid(account, f"{account}-p1", 10_000, on(3, 22))], 2)
    granted = await client.post(f"/tasks/{task}/discounts", json=GOODWILL, headers=_auth(token, "k-paid"))
    assert granted.status_code == 201, granted.text
    assert granted.json()["status"] == "granted"
