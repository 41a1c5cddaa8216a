"""Plan changes by agents on the real broker and PostgreSQL: what people see follows the effective date in event
time, a downgrade above the agent's authority goes to a supervisor, and the invoices the closer issues follow the
same dates.

Two accounts open on 1 December 2027 (DE, 19 % VAT): A on mobile-l, B on mobile-s. Each calls on 10 January 2028.
- A: an agent asks to move A to mobile-s from the next cycle (19.00 a month less, the agent's limit is 15.00): 202,
  sent to a supervisor, nothing published, the task marked as waiting; another change meanwhile is refused. The
  supervisor sees it on /approvals; with the policy tightened below 19.00 a supervisor may not approve it (403);
  under the policy in force the supervisor approves it: published once (the supervisor for the agent), the
  practice recorded on the agent's task, a repeated approval answers the same and changes nothing. The agent then
  asks for mobile-s "now": the supervisor sees it on the wall and declines it there, and nothing is published.
  Until 1 February A is shown on mobile-l with "changes to mobile-s on 2028-02-01"; once February's usage is in,
  on mobile-s. January is billed on mobile-l (the declined "now" never happened), February on mobile-s.
- B: an agent moves B to mobile-l from the next cycle (an upgrade), then "now" back to mobile-s: the pending change
  is cancelled, in the view and in billing (February stays on mobile-s).

The stack's catalog is the demo catalog plus mobile-m (1,999 a month, voice 20,000 s included): a downgrade within
the agent's limit, asked for while a request waits. In cents:
- mobile-l v1: fee 2,999; voice 60,000 s included; sms 100 included, then 9 each.
- mobile-s v2: fee 1,099; voice 6,000 s included, then 0.14 per s for 6,000 s, then 0.08; sms 100, then 9 each.
The API's clock is 10 January 2028 12:00:01 UTC; the workers run no closer (the test closes each month), and the
event-time clock is the slowest usage partition's latest usage, moved by the usage the test publishes: at the
approval it is in early January, so "the next cycle" computed then is 1 February.
"""

from __future__ import annotations

import asyncio
import copy
import shutil
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest
from click.testing import CliRunner

from billing.care.lifecycle import make_task_id
from billing.contracts.usage import ServiceKind
from billing.entrypoints.api.app import create_app
from billing.entrypoints.cli.main import main
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.identity.agent_store import create_agent, set_account_pin
from billing.identity.rules.roles import Role
from billing.invoicing.closer import close_due_cycles
from billing.invoicing.rules.catalog import Catalog
from billing.invoicing.rules.catalog_demo_data import DEMO_CATALOG_DATA
from billing.platform.context import create_pool
from tests.integration.agent_api_helpers import bearer, call_started, claim_until
from tests.integration.conftest import own_stack
from tests.integration.helpers import eventually, unique
from tests.integration.invoicing_helpers import opened, publish_and_wait, used
from tests.integration.plan_approval_helpers import WallSession, account_view, change, periods, tightened_policy
from tests.integration.plan_approval_steps import (
    NEXT_CYCLE,
    OPENED,
    a_downgrade_goes_to_a_supervisor,
    a_supervisor_declines_a_change_now,
)

pytestmark = pytest.mark.integration

CALLED = datetime(2028, 1, 10, 12, tzinfo=UTC)
PIN = "7314"


def _clock() -> datetime:
    return CALLED + timedelta(seconds=1)


def _catalog_data() -> dict:
    data = copy.deepcopy(DEMO_CATALOG_DATA)
    medium = copy.deepcopy(next(plan for plan in data["plans"] if plan["plan_id"] == "mobile-l"))
    medium.update(plan_id="mobile-m", recurring_fee_minor=1999)
    medium["services"]["voice"]["included_units"] = 20_000
    data["plans"].append(medium)
    return data


CATALOG = Catalog.from_dict(_catalog_data())


@pytest.fixture(scope="module")
def live():
    folder = Path(tempfile.mkdtemp(prefix="billing-plans-catalog-", dir="/tmp"))
    catalog_path = folder / "catalog.json"
    catalog_path.write_bytes(orjson.dumps(_catalog_data()))
    try:
        with own_stack(
            "plans", closer_enabled=False, max_future_skew_s=3 * 366 * 86400, catalog_path=catalog_path
        ) as launcher:
            yield launcher.settings
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _calls(account: str, first: datetime, count: int) -> list:
    return [used(account, ServiceKind.VOICE, 1000, first + timedelta(days=i)) for i in range(count)]


def _texts(account: str, first: datetime, count: int, every_h: int) -> list:
    return [used(account, ServiceKind.SMS, 1, first + timedelta(hours=i * every_h)) for i in range(count)]


async def _close(live, accounts: list[str], as_of: datetime) -> None:
    pool = await asyncpg.create_pool(live.require_database_url(), min_size=1, max_size=2)
    try:
        report = await close_due_cycles(pool, CATALOG, live, as_of, accounts=accounts)
    finally:
        await pool.close()
    assert report.issued == len(accounts), report


async def test_plan_changes_follow_the_effective_date_in_event_time_and_the_agents_authority(live, tmp_path) -> None:
    a, b = unique("pa"), unique("pb")
    openings = [opened(a, "mobile-l", "EUR", "DE", OPENED), opened(b, "mobile-s", "EUR", "DE", OPENED)]
    # December: A 20 calls of 1,000 s and 50 sms; B one sms. January so far (to the 8th): A 8 calls and 10 sms,
    # B one sms on the 3rd.
    usage = _calls(a, datetime(2027, 12, 1, 9, tzinfo=UTC), 20) + _texts(a, datetime(2027, 12, 2, tzinfo=UTC), 50, 6)
    usage += _calls(a, datetime(2028, 1, 1, 9, tzinfo=UTC), 8) + _texts(a, datetime(2028, 1, 1, 10, tzinfo=UTC), 10, 9)
    usage += _texts(b, datetime(2027, 12, 3, tzinfo=UTC), 1, 1) + _texts(b, datetime(2028, 1, 3, tzinfo=UTC), 1, 1)
    await publish_and_wait(live, openings, usage)
    await _close(live, [a, b], datetime(2028, 1, 6, tzinfo=UTC))

    app = create_app(live, _clock)
    # The same API over the same database with every plan-change limit cut below 19.00 (a supervisor's too).
    tightened = create_app(live.model_copy(update={"discount_policy_path": tightened_policy(tmp_path)}), _clock)
    pool = await create_pool(live)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    strict = httpx.AsyncClient(transport=httpx.ASGITransport(app=tightened), base_url="http://api")
    wall = WallSession(app)
    try:
        ana_agent, ana = await create_agent(pool, f"Ana {unique('a')}", Role.AGENT)
        sam_agent, sam = await create_agent(pool, f"Sam {unique('s')}", Role.SUPERVISOR)
        people = {"ana": (ana_agent.agent_id, ana), "sam": (sam_agent.agent_id, sam)}
        await wall.sign_in(sam)
        a_task = await _verified_call(live, pool, client, a, ana)
        await a_downgrade_goes_to_a_supervisor(pool, client, strict, a, a_task, people)
        await a_supervisor_declines_a_change_now(pool, client, wall, a, a_task, people)
        await _a_is_shown_with_the_approved_change(live, client, a, a_task, ana)
        b_task = await _verified_call(live, pool, client, b, ana)
        await _b_now_cancels_the_pending_change(pool, client, b, b_task, ana)

        # February's usage moves the event-time clock past 1 February (both accounts' partitions): A 10 calls
        # of 1,000 s from the 2nd and 120 sms every 4 hours, B one sms.
        february = _calls(a, datetime(2028, 2, 2, 9, tzinfo=UTC), 10) + _texts(
            a, datetime(2028, 2, 2, tzinfo=UTC), 120, 4
        )
        await publish_and_wait(live, [], february + _texts(b, datetime(2028, 2, 2, tzinfo=UTC), 1, 1))
        account_a = await account_view(client, a_task, ana)
        assert (account_a["plan_id"], account_a["plan_pending"]) == ("mobile-s", None)
        account_b = await account_view(client, b_task, ana)
        assert (account_b["plan_id"], account_b["plan_pending"]) == ("mobile-s", None)
        await _close(live, [a, b], datetime(2028, 2, 6, tzinfo=UTC))
        await _close(live, [a, b], datetime(2028, 3, 6, tzinfo=UTC))
        rows = await pool.fetch(
            "SELECT account_id, period_start, total_minor, lines::text AS lines FROM invoices"
            " WHERE account_id = ANY($1)",
            [a, b],
        )
    finally:
        await wall.close()
        await strict.aclose()
        await client.aclose()
        await tightened.state.services.close()
        await app.state.services.close()
        await pool.close()
    totals = {(row["account_id"], row["period_start"]): row["total_minor"] for row in rows}
    dec, jan, feb = date(2027, 12, 1), date(2028, 1, 1), date(2028, 2, 1)
    # A, December and January on mobile-l (the declined "now" change never took effect): fee 2,999, voice
    # (20,000 s, then 8,000 s) and sms (50, then 10) within the allowances; VAT 569.81 -> 570; 3,569.
    # A, February on mobile-s: fee 1,099; voice 10,000 s - 6,000 included = 4,000 x 0.14 = 560; sms 120 - 100 = 20
    # x 9 = 180; subtotal 1,839; VAT 349.41 -> 349; 2,188.
    # B, every month on mobile-s: fee 1,099, one sms within the allowance; VAT 208.81 -> 209; 1,308 (February on
    # mobile-l, had the cancelled change stayed: 2,999 + VAT 570 = 3,569).
    assert totals == {
        (a, dec): 3569,
        (a, jan): 3569,
        (a, feb): 2188,
        (b, dec): 1308,
        (b, jan): 1308,
        (b, feb): 1308,
    }
    lines = {(row["account_id"], row["period_start"]): row["lines"] for row in rows}
    assert "recurring:mobile-l:v1" in lines[(a, jan)] and "mobile-s" not in lines[(a, jan)]
    assert "recurring:mobile-s:v2" in lines[(a, feb)] and "mobile-l" not in lines[(a, feb)]
    assert "mobile-m" not in lines[(a, feb)]
    assert "mobile-l" not in lines[(b, feb)]


async def _verified_call(live, pool, client, account: str, token: str) -> str:
    call_id = unique("call")
    await set_account_pin(pool, account, PIN)
    await publish(live.require_bootstrap(), [record_of(call_started(account, call_id, None, CALLED))])
    task_id = make_task_id("call", call_id)
    await eventually(lambda: pool.fetchrow("SELECT * FROM tasks WHERE task_id = $1", task_id), bool)
    await claim_until(client, token, task_id)
    assert (await client.post(f"/tasks/{task_id}/accept", headers=bearer(token))).status_code == 200
    verified = await client.post(f"/calls/{call_id}/verify", headers=bearer(token), json={"pin": PIN})
    assert verified.json()["verified"] is True
    return task_id


async def _a_is_shown_with_the_approved_change(live, client, a: str, task_id: str, ana) -> None:
    """Until 1 February in event time (the usage so far reaches 8 January): mobile-l, with the change pending, in
    the account view, the plan options and `billing account show`."""
    view = await account_view(client, task_id, ana)
    assert (view["plan_id"], view["plan_version"]) == ("mobile-l", 1)
    assert view["plan_pending"] == {
        "plan_id": "mobile-s",
        "effective_at": NEXT_CYCLE,
        "summary": "changes to mobile-s on 2028-02-01",
    }
    options = (await client.get(f"/tasks/{task_id}/plan-options", headers=bearer(ana))).json()
    assert (options["current_plan_id"], options["pending_plan_change"]) == ("mobile-l", view["plan_pending"])
    assert options["approval_pending"] is None
    marks = {option["plan_id"]: (option["is_current"], option["is_scheduled"]) for option in options["options"]}
    assert marks == {"mobile-l": (True, False), "mobile-m": (False, False), "mobile-s": (False, True)}
    shown = await asyncio.to_thread(  # the command runs its own event loop
        CliRunner().invoke,
        main,
        ["account", "show", a],
        env={"DATABASE_URL": live.require_database_url(), "CATALOG_PATH": str(live.catalog_path)},
    )
    assert shown.exit_code == 0, shown.output
    assert "plan mobile-l (changes to mobile-s on 2028-02-01)" in shown.output


async def _b_now_cancels_the_pending_change(pool, client, b: str, task_id: str, ana) -> None:
    upgrade = await change(client, task_id, ana, "mobile-l", "next_cycle")
    assert (upgrade.status_code, upgrade.json()["recurring_change_minor"]) == (200, 1900)  # more: no limit
    await eventually(lambda: periods(pool, b), lambda periods: len(periods) == 2)
    view = await account_view(client, task_id, ana)
    assert (view["plan_id"], view["plan_pending"]["summary"]) == ("mobile-s", "changes to mobile-l on 2028-02-01")

    # "Now" back to mobile-s: the pending change is cancelled (replaced from now on), nothing is left pending.
    stay = await change(client, task_id, ana, "mobile-s", "now")
    assert stay.status_code == 200, stay.text
    assert stay.json()["replaces_pending"]["summary"] == "changes to mobile-l on 2028-02-01"
    now = (CALLED + timedelta(seconds=1)).isoformat()
    await eventually(lambda: periods(pool, b), lambda p: p == [("mobile-s", OPENED.isoformat()), ("mobile-s", now)])
    view = await account_view(client, task_id, ana)
    assert (view["plan_id"], view["plan_pending"]) == ("mobile-s", None)
