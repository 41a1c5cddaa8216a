"""`GET /tasks/{id}/offer` on the real PostgreSQL: the holder of a task in the treatment arm is shown the offer
the discount policy allows (hand-computed below); in the control arm, none; not for a task one does not hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from billing.care.lifecycle import NewTask, insert_task, make_task_id
from billing.entrypoints.api.app import create_app
from billing.identity.agent_store import create_agent, set_account_pin
from billing.identity.rules.roles import Role
from billing.platform.context import create_pool
from billing.retention.rules.arms import Arm, assign_arm
from tests.integration.helpers import unique

pytestmark = pytest.mark.integration

QUEUE = unique("offerq")
PIN = "6142"


def account_in(arm: Arm, share_bp: int) -> str:
    while True:
        account_id = unique("acc-offer")
        if assign_arm(account_id, share_bp) is arm:
            return account_id


async def arrange(pool, account_id: str) -> str:
    """An account of 400 days with a last bill of 29.99 EUR, and a call task for it in this module's queue."""
    now = datetime.now(UTC)
    call_id = unique("call")
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO accounts (account_id, plan_id, billing_anchor_day, currency, jurisdiction, contact, status,"
            " opened_at) VALUES ($1, 'mobile-s', 1, 'EUR', 'DE', $2, 'active', $3)",
            account_id,
            {"name": "Offer Test"},
            now - timedelta(days=400),
        )
        await conn.execute(
            "INSERT INTO invoices_issued (invoice_id, account_id, invoice_number, period_start, period_end, currency,"
            " total_minor, issued_at, due_date, lines) VALUES ($1, $2, $3, $4, $5, 'EUR', 2999, $6, $7, '[]')",
            unique("inv"),
            account_id,
            unique("INV"),
            (now - timedelta(days=40)).date(),
            (now - timedelta(days=10)).date(),
            now - timedelta(days=9),
            (now + timedelta(days=5)).date(),
        )
        task = await insert_task(
            conn,
            NewTask(
                task_id=make_task_id("call", call_id),
                kind="call",
                source_event_id=unique("evt"),
                account_id=account_id,
                reason="cancellation_intent",
                rule="default",
                queue=QUEUE,
                tier=1,
                static_priority=10,
                priority=10,
                routed_at=now - timedelta(seconds=5),
                call_id=call_id,
                currency="EUR",
            ),
        )
    return task.task_id


@pytest.fixture(scope="module")
async def api(live):
    settings = live.model_copy(update={"agent_role_queues": f"agent={QUEUE};tier2={QUEUE};supervisor={QUEUE};analyst="})
    app = create_app(settings)
    pool = await create_pool(settings)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    yield {"client": client, "pool": pool, "share_bp": round(settings.retention_holdout_share * 10_000)}
    await client.aclose()
    await app.state.services.close()
    await pool.close()


async def claimed_offer(api, arm: Arm, verified: bool = True) -> tuple[httpx.Response, str, dict]:
    """Claim the arranged task and ask for its offer, once the caller gave the PIN (unless ``verified`` is False)."""
    account_id = account_in(arm, api["share_bp"])
    task_id = await arrange(api["pool"], account_id)
    _, token = await create_agent(api["pool"], unique("agent"), Role.AGENT)
    headers = {"Authorization": f"Bearer {token}"}
    claimed = await api["client"].post("/tasks/claim", headers=headers)
    assert claimed.json()["task"]["task_id"] == task_id
    if verified:
        await verify_caller(api, account_id, claimed.json()["task"]["call_id"], headers)
    return await api["client"].get(f"/tasks/{task_id}/offer", headers=headers), task_id, headers


async def verify_caller(api, account_id: str, call_id: str, headers: dict) -> None:
    await set_account_pin(api["pool"], account_id, PIN)
    passed = await api["client"].post(f"/calls/{call_id}/verify", json={"pin": PIN}, headers=headers)
    assert passed.json()["verified"] is True, passed.text


async def test_treatment_arm_is_offered_what_the_policy_allows(api) -> None:
    response, task_id, _ = await claimed_offer(api, Arm.TREATMENT)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["arm"] == "treatment" and body["task_id"] == task_id
    # 400 days, good standing: 15 % off 3 invoices of 2,999 = 1,349.55 -> 1,350 minor (half up), within the 2,500 cap
    assert body["offer"] == {
        "practice": "discount_percent",
        "grant_kind": "percent_next_invoices",
        "amount_minor": 1350,
        "currency": "EUR",
        "percent_bp": 1500,
        "invoice_count": 3,
    }


async def test_control_arm_is_offered_nothing(api) -> None:
    response, _, _ = await claimed_offer(api, Arm.CONTROL)
    assert response.status_code == 200, response.text
    assert response.json()["arm"] == "control" and response.json()["offer"] is None


async def test_another_agent_cannot_see_the_offer(api) -> None:
    _, task_id, _ = await claimed_offer(api, Arm.TREATMENT)
    _, stranger = await create_agent(api["pool"], unique("agent"), Role.AGENT)
    response = await api["client"].get(f"/tasks/{task_id}/offer", headers={"Authorization": f"Bearer {stranger}"})
    assert response.status_code == 403 and response.json()["error"] == "not_your_task"


async def test_the_offer_waits_until_the_caller_is_verified(api) -> None:
    """Every figure of the offer comes from the account (its size from the last bill, whether there is one at all
    from tenure and standing): before the caller is verified on the call the route answers no offer at all."""
    response, task_id, headers = await claimed_offer(api, Arm.TREATMENT, verified=False)
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "caller_not_verified"
    for figure in ("1350", "13.50", "2999", "29.99", "1500"):  # the offer, the last bill, the percent
        assert figure not in response.text
    account_id = await api["pool"].fetchval("SELECT account_id FROM tasks WHERE task_id = $1", task_id)
    call_id = await api["pool"].fetchval("SELECT call_id FROM tasks WHERE task_id = $1", task_id)
    await verify_caller(api, account_id, call_id, headers)
    shown = await api["client"].get(f"/tasks/{task_id}/offer", headers=headers)
    assert shown.status_code == 200 and shown.json()["offer"]["amount_minor"] == 1350  # as computed above
