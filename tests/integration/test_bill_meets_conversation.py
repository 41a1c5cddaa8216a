"""Issue 12 end to end on the real broker and PostgreSQL, with NO upstream invoice: the closer's own invoices are
what the agent sees, disputes, re-prices and changes.

An account opens on mobile-s (DE, 19 % VAT) on 1 December 2027; usage flows for three months and the closer
issues three invoices; on 10 March 2028 the customer calls; an agent claims, verifies, sees the invoices with
their lines, disputes a line of the February invoice and credits it (a credit note), asks for plan options,
moves the customer to mobile-l from the next cycle and completes the task; March is still billed on mobile-s,
April on mobile-l.

The API's clock is 10 March 2028 12:00 UTC (ahead of the workers' sweeper, which runs on the real time, so the
hold never runs out under it); the module's own stack runs no closer, the test closes each cycle itself.

Demo catalog (src/billing/invoicing/rules/catalog_demo_data.py), in cents:
- mobile-s v2: fee 1,099; voice 6,000 s included, then 0.14 per s for 6,000 s, then 0.08; sms 100 included,
  then 9 each.
- mobile-l v1: fee 2,999; voice 60,000 s included; sms 100 included, then 9 each.
A closed month: 40 calls of 1,000 s (40,000 s) and 110 sms.
- on mobile-s: voice 34,000 s over the allowance: 6,000 x 0.14 = 840 + 28,000 x 0.08 = 2,240 -> 3,080;
  sms 10 x 9 = 90; subtotal 1,099 + 3,080 + 90 = 4,269; VAT 811.11 -> 811; total 5,080.
- on mobile-l: voice within 60,000 -> 0; sms 90; subtotal 2,999 + 90 = 3,089; VAT 586.91 -> 587; total 3,676.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from billing.care.lifecycle import make_task_id
from billing.contracts.usage import ServiceKind
from billing.entrypoints.api.app import create_app
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.identity.agent_store import create_agent, set_account_pin
from billing.identity.rules.roles import Role
from billing.platform.context import create_pool
from tests.integration.agent_api_helpers import bearer, call_started, claim_until
from tests.integration.conftest import own_stack
from tests.integration.helpers import eventually, unique
from tests.integration.invoicing_helpers import close_for, opened, publish_and_wait, used

pytestmark = pytest.mark.integration

OPENED = datetime(2027, 12, 1, tzinfo=UTC)
CALLED = datetime(2028, 3, 10, 12, tzinfo=UTC)
MONTHS = [date(2027, 12, 1), date(2028, 1, 1), date(2028, 2, 1)]
PIN = "6061"


@pytest.fixture(scope="module")
def live():
    """A stack of its own: no closer (the test closes each cycle), and usage up to 2028 accepted (the scenario's
    dates lie ahead of the real time so that the workers' sweeper, on the real time, never ends the agent's hold)."""
    with own_stack("bill", closer_enabled=False, max_future_skew_s=3 * 366 * 86400) as launcher:
        yield launcher.settings


def _month_usage(account: str, start: date, calls: int, sms: int, every_h: tuple[int, int]) -> list:
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    voice = [used(account, ServiceKind.VOICE, 1000, first + timedelta(hours=i * every_h[0])) for i in range(calls)]
    texts = [used(account, ServiceKind.SMS, 1, first + timedelta(hours=i * every_h[1], minutes=7)) for i in range(sms)]
    return voice + texts


def _sixth_after(month: date) -> datetime:
    return datetime(month.year + month.month // 12, month.month % 12 + 1, 6, tzinfo=UTC)


async def test_an_agent_explains_disputes_compares_and_changes_the_plan_of_a_bill_our_closer_issued(live) -> None:
    account = unique("e2e")
    opening = opened(account, "mobile-s", "EUR", "DE", OPENED)
    usage = [event for month in MONTHS for event in _month_usage(account, month, 40, 110, (15, 5))]
    # March so far (to the call): 10 calls of 1,000 s and 30 sms, all before the 10th.
    usage += _month_usage(account, date(2028, 3, 1), 10, 30, (20, 6))
    await publish_and_wait(live, [opening], usage)
    for month in MONTHS:  # each cycle closed on the 6th of the next month (past the grace period)
        report = await close_for(live, [account], _sixth_after(month))
        assert report.issued == 1, report

    app = create_app(live, lambda: CALLED + timedelta(seconds=1))
    pool = await create_pool(live)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    try:
        await _the_call(live, pool, client, account)
    finally:
        await client.aclose()
        await app.state.services.close()
        await pool.close()

    # March closes on mobile-s, usage so far only: fee 1,099 + voice 10,000 s - 6,000 included = 4,000 x 0.14
    # = 560; sms 30 within 100; subtotal 1,659; VAT 315.21 -> 315; total 1,974.
    report = await close_for(live, [account], _sixth_after(date(2028, 3, 1)))
    assert report.issued == 1, report
    # April on mobile-l (the change took effect on 1 April): 40,000 s and 110 sms -> 3,676 (see the docstring).
    await publish_and_wait(live, [], _month_usage(account, date(2028, 4, 1), 40, 110, (15, 5)))
    report = await close_for(live, [account], _sixth_after(date(2028, 4, 1)))
    assert report.issued == 1, report
    rows = await _pool_fetch(
        live, "SELECT period_start, total_minor, lines::text AS lines FROM invoices WHERE account_id = $1", account
    )
    totals = {row["period_start"]: row["total_minor"] for row in rows}
    assert totals == {MONTHS[0]: 5080, MONTHS[1]: 5080, MONTHS[2]: 5080, date(2028, 3, 1): 1974, date(2028, 4, 1): 3676}
    april = next(row["lines"] for row in rows if row["period_start"] == date(2028, 4, 1))
    assert "recurring:mobile-l:v1" in april and "mobile-s" not in april


async def _the_call(live, pool, client, account: str) -> None:
    call_id = unique("call")
    await set_account_pin(pool, account, PIN)
    await publish(live.require_bootstrap(), [record_of(call_started(account, call_id, None, CALLED))])
    task_id = make_task_id("call", call_id)
    await eventually(lambda: pool.fetchrow("SELECT * FROM tasks WHERE task_id = $1", task_id), bool)
    _agent, token = await create_agent(pool, f"Ana {unique('a')}", Role.AGENT)
    await claim_until(client, token, task_id)
    assert (await client.post(f"/tasks/{task_id}/accept", headers=bearer(token))).status_code == 200
    verified = await client.post(f"/calls/{call_id}/verify", headers=bearer(token), json={"pin": PIN})
    assert verified.json()["verified"] is True

    # The account view: our closer's three invoices (no upstream one exists), newest first, with their lines.
    view = (await client.get(f"/tasks/{task_id}/account", headers=bearer(token))).json()["account"]
    invoices = view["invoices"]
    assert [(i["period_start"], i["origin"], i["total_minor"]) for i in invoices] == [
        ("2028-02-01", "billing", 5080),
        ("2028-01-01", "billing", 5080),
        ("2027-12-01", "billing", 5080),
    ]
    february = invoices[0]
    lines = {line["line_id"]: line["amount_minor"] for line in february["lines"]}
    assert lines == {
        "recurring:mobile-s:v2": 1099,
        "usage:mobile-s:v2:voice:included": 0,
        "usage:mobile-s:v2:voice:tier1": 840,
        "usage:mobile-s:v2:voice:tier2": 2240,
        "usage:mobile-s:v2:sms:included": 0,
        "usage:mobile-s:v2:sms:tier1": 90,
        "tax": 811,
    }
    # February against January: the same usage on the same plan, so the same 50.80 EUR and nothing to explain
    # but that (every cause, if any, is zero and they sum to the change, 0).
    explanation = view["latest_explanation"]
    assert (explanation["invoice_id"], explanation["currency"]) == (february["invoice_id"], "EUR")
    assert (explanation["total_minor"], explanation["previous_total_minor"], explanation["change_minor"]) == (
        5080,
        5080,
        0,
    )
    assert explanation["coarse"] is False  # our own invoice: explained line by line
    assert sum(cause["amount_minor"] for cause in explanation["causes"]) == 0
    # Nothing paid yet: the three invoices are owed, 3 x 50.80 = 152.40 EUR, all of it open, no credit.
    balance = view["balance"]
    assert (balance["currency"], balance["balance_minor"], balance["open_minor"], balance["credit_minor"]) == (
        "EUR",
        15240,
        15240,
        0,
    )
    assert sorted(i["total_minor"] for i in balance["open_invoices"]) == [5080, 5080, 5080]
    # The open cycle (March, 31 days) on the 10th: 10 days elapsed. So far as if it closed now: 1,974 (see the
    # test's end). At this pace the whole month: units x 31 / 10: voice 31,000 s -> 25,000 over the allowance:
    # 6,000 x 0.14 = 840 + 19,000 x 0.08 = 1,520 -> 2,360; sms 93 within 100; 1,099 + 2,360 = 3,459; VAT 657.21
    # -> 657; total 4,116.
    assert view["open_cycle"] == {
        "cycle_start": "2028-03-01",
        "cycle_end": "2028-04-01",
        "elapsed_days": 10,
        "cycle_days": 31,
        "currency": "EUR",
        "so_far_minor": 1974,
        "forecast_minor": 4116,
    }
    # mobile-l would have cost 3 x 3,676 = 11,028 against 3 x 5,080 = 15,240 billed: 4,212 less.
    assert view["best_saving"] == {"plan_id": "mobile-l", "saving_minor": 4212, "currency": "EUR", "scheduled": False}

    # A dispute on a line of our own invoice (it was a 404 when only upstream invoices were read): the sms line.
    body = {
        "invoice_id": february["invoice_id"],
        "line_id": "usage:mobile-s:v2:sms:tier1",
        "reason": "incorrect_charge",
    }
    opened_dispute = await client.post(f"/tasks/{task_id}/disputes", headers=bearer(token), json=body)
    assert opened_dispute.status_code == 201, opened_dispute.text
    assert opened_dispute.json()["amount_minor"] == 90  # the whole line
    dispute_id = opened_dispute.json()["dispute_id"]
    await eventually(lambda: pool.fetchval("SELECT stage FROM disputes WHERE dispute_id = $1", dispute_id), bool)
    resolved = await client.post(
        f"/tasks/{task_id}/disputes/{dispute_id}/resolve",
        headers={**bearer(token), "Idempotency-Key": unique("k")},
        json={"outcome": "credited", "credit_minor": 90, "reason": "the customer sent no sms that day"},
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["credit_minor"] == 90 and resolved.json()["credit_note_number"].startswith("CN-")
    note = await pool.fetchrow("SELECT invoice_id, amount_minor FROM credit_notes WHERE dispute_id = $1", dispute_id)
    assert (note["invoice_id"], note["amount_minor"]) == (february["invoice_id"], 90)

    # Plan options over the three closed cycles: each plan per cycle and against what was billed.
    options = (await client.get(f"/tasks/{task_id}/plan-options", headers=bearer(token))).json()
    by_plan = {option["plan_id"]: option for option in options["options"]}
    assert set(by_plan) == {"mobile-s", "mobile-l"}  # mobile-jp (JPY) and mobile-jo (JOD) are excluded
    assert options["billed_minor"] == [5080, 5080, 5080]
    assert by_plan["mobile-s"]["cycle_totals_minor"] == [5080, 5080, 5080]  # the plan billed: what was billed
    assert by_plan["mobile-s"]["differences_minor"] == [0, 0, 0]
    assert by_plan["mobile-l"]["cycle_totals_minor"] == [3676, 3676, 3676]
    assert by_plan["mobile-l"]["differences_minor"] == [-1404, -1404, -1404]  # 3,676 - 5,080
    # The forecast on mobile-l: 2,999 + voice 31,000 within 60,000 + sms 93 within 100; VAT 569.81 -> 570: 3,569.
    assert (by_plan["mobile-s"]["forecast_minor"], by_plan["mobile-l"]["forecast_minor"]) == (4116, 3569)
    assert (options["cheapest_plan_id"], options["best_saving_minor"]) == ("mobile-l", 4212)

    # The change: refused in another currency (nothing written), then made for the next cycle.
    change = f"/tasks/{task_id}/plan-change"
    foreign = await client.post(
        change,
        headers={**bearer(token), "Idempotency-Key": unique("k")},
        json={"plan_id": "mobile-jp", "effective": "next_cycle"},
    )
    assert (foreign.status_code, foreign.json()["error"]) == (422, "other_currency")
    key = unique("k")
    changed = await client.post(
        change,
        headers={**bearer(token), "Idempotency-Key": key},
        json={"plan_id": "mobile-l", "effective": "next_cycle"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["effective_at"] == "2028-04-01T00:00:00+00:00"
    again = await client.post(
        change,
        headers={**bearer(token), "Idempotency-Key": key},
        json={"plan_id": "mobile-l", "effective": "next_cycle"},
    )
    assert again.json() == changed.json()  # the same answer, nothing published twice
    outbox = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE convert_from(value, 'UTF8') LIKE $1", f"%{changed.json()['event_id']}%"
    )
    assert outbox == 1
    await eventually(
        lambda: pool.fetchval(
            "SELECT count(*) FROM account_plan_changes WHERE account_id = $1 AND plan_id = 'mobile-l'", account
        ),
        lambda n: n == 1,
    )
    # Until 1 April in event time (the usage so far reaches 8 March) the customer is on mobile-s, the change pending.
    view = (await client.get(f"/tasks/{task_id}/account", headers=bearer(token))).json()["account"]
    assert view["plan_id"] == "mobile-s"  # it was shown on mobile-l at once, before the change took effect
    assert view["plan_pending"]["summary"] == "changes to mobile-l on 2028-04-01"

    # Completed as "explanation_only", recorded as what was done: a plan change.
    assert (await client.post(f"/tasks/{task_id}/wrap-up", headers=bearer(token))).status_code == 200
    done = await client.post(
        f"/tasks/{task_id}/complete",
        headers=bearer(token),
        json={"outcome": "resolved", "practice": "explanation_only"},
    )
    assert done.status_code == 200 and done.json()["task"]["practice"] == "plan_change"
    audit = await pool.fetch(
        "SELECT action, status FROM audit_log WHERE task_id = $1 AND action = 'tasks.plan_change' ORDER BY audit_id",
        task_id,
    )
    assert [(row["action"], row["status"]) for row in audit] == [("tasks.plan_change", s) for s in (422, 200, 200)]


async def _pool_fetch(live, query: str, *args):
    pool = await create_pool(live)
    try:
        return await pool.fetch(query, *args)
    finally:
        await pool.close()
