"""Issue 14, point 3, on the real broker and PostgreSQL: the arm is drawn when a contact is routed and fixed for
the account in the experiment's period; a changed holdout share is a new period, whose report is kept apart; a
withheld practice asked for a control-arm case is refused (409) and writes nothing, and so is the approval of a
pending request for one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from billing.care import store
from billing.care.config import load_care_config
from billing.care.lifecycle import NewTask, insert_task, make_task_id
from billing.care.routing_tasks import route_call
from billing.entrypoints.api.app import create_app
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.identity.agent_store import create_agent, set_account_pin
from billing.identity.rules.roles import Role
from billing.platform.context import create_pool
from billing.retention import experiment
from billing.retention import store as retention_store
from billing.retention.plan_config import Experiment, load_experiment
from billing.retention.queries import Cohort, report_on
from billing.retention.rules.arms import Arm, assign_arm
from tests.integration.agent_api_helpers import call_started, customer
from tests.integration.helpers import eventually, unique
from tests.integration.money_api_helpers import hold_task

pytestmark = pytest.mark.integration

QUEUE = unique("armq")
PIN = "5931"
PERCENT = {
    "kind": "percent_next_invoices",
    "percent_bp": 1500,
    "invoice_count": 3,
    "reason_code": "retention",
    "criteria": ["cancellation intent"],
}


def account_moving_at(low_bp: int, high_bp: int) -> str:
    """An account in treatment at ``low_bp`` and in control at ``high_bp``: a share change would move it."""
    while True:
        account_id = unique("acc-arm")
        if assign_arm(account_id, low_bp) is Arm.TREATMENT and assign_arm(account_id, high_bp) is Arm.CONTROL:
            return account_id


async def test_the_arm_is_drawn_at_routing_fixed_per_account_and_period(live) -> None:
    current = load_experiment(live)
    wider = Experiment(replace(current.plan, holdout_share=0.5), 5000)  # the share raised to 50 %: a new period
    account, invoice_id = account_moving_at(current.holdout_share_bp, 5000), unique("inv")
    now = datetime.now(UTC)
    pool = await create_pool(live)
    try:
        await publish(live.require_bootstrap(), [record_of(e) for e in customer(account, invoice_id, now)])
        await eventually(lambda: pool.fetchval("SELECT count(*) FROM accounts WHERE account_id = $1", account), bool)
        calls = [unique("call"), unique("call")]
        await publish(live.require_bootstrap(), [record_of(call_started(account, c, invoice_id, now)) for c in calls])
        tasks = [
            await eventually(lambda c=c: pool.fetchrow("SELECT * FROM tasks WHERE call_id = $1", c), bool)
            for c in calls
        ]
        # Routed by the worker: drawn once for the account in the current period, recorded on each task.
        assert [(t["arm"], t["period"]) for t in tasks] == [("treatment", current.period)] * 2
        drawn = await pool.fetch("SELECT period, arm, task_id FROM retention_arms WHERE account_id = $1", account)
        assert [(r["period"], r["arm"], r["task_id"]) for r in drawn] == [
            (current.period, "treatment", tasks[0]["task_id"])
        ]

        # A call routed under the raised share is in the new period, where the account's arm is control.
        config = replace(load_care_config(live), experiment=wider)
        later = call_started(account, unique("call"), invoice_id, now + timedelta(minutes=1))
        async with pool.acquire() as conn, conn.transaction():
            await route_call(conn, later, config)
        third = await pool.fetchrow("SELECT arm, period FROM tasks WHERE call_id = $1", later.payload.call_id)
        assert (third["arm"], third["period"]) == ("control", wider.period)
        periods = await pool.fetch("SELECT period, arm FROM retention_arms WHERE account_id = $1", account)
        assert {r["period"]: r["arm"] for r in periods} == {current.period: "treatment", wider.period: "control"}

        # The first task, completed after the share changed, keeps the arm of its routing.
        agent = unique("agent")
        await pool.execute(
            "UPDATE tasks SET state = 'wrapping', holder_agent_id = $2, accepted_at = $3, first_accepted_at = $3,"
            " wrapping_at = $3 WHERE task_id = $1",
            tasks[0]["task_id"],
            agent,
            now,
        )
        done = await store.complete(
            pool, tasks[0]["task_id"], agent, "resolved", "explanation_only", 0, now, holdout_share_bp=5000
        )
        assert (done.arm, done.period) == ("treatment", current.period)
    finally:
        await pool.close()


@pytest.fixture(scope="module")
async def api(live):
    settings = live.model_copy(update={"agent_role_queues": f"agent={QUEUE};tier2={QUEUE};supervisor={QUEUE};analyst="})
    app = create_app(settings)
    pool = await create_pool(settings)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    yield {"client": client, "pool": pool, "experiment": load_experiment(settings)}
    await client.aclose()
    await app.state.services.close()
    await pool.close()


async def _held_task_in(api, arm: str) -> tuple[str, str, dict]:
    """A call task for a 400-day customer, routed into ``arm`` of the current period, claimed and verified."""
    pool, now = api["pool"], datetime.now(UTC)
    account_id, call_id = unique("acc-arm"), unique("call")
    current = api["experiment"]
    async with pool.acquire() as conn, conn.transaction():
        await experiment.register_period(conn, current, now)
        await conn.execute(
            "INSERT INTO accounts (account_id, plan_id, billing_anchor_day, currency, jurisdiction, contact, status,"
            " opened_at) VALUES ($1, 'mobile-s', 1, 'EUR', 'DE', $2, 'active', $3)",
            account_id,
            {"name": "Arm Test"},
            now - timedelta(days=400),
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
                arm=arm,
                period=current.period,
            ),
        )
    _, token = await create_agent(pool, unique("agent"), Role.AGENT)
    headers = {"Authorization": f"Bearer {token}"}
    claimed = await api["client"].post("/tasks/claim", headers=headers)
    assert claimed.json()["task"]["task_id"] == task.task_id
    await set_account_pin(pool, account_id, PIN)
    verified = await api["client"].post(f"/calls/{call_id}/verify", json={"pin": PIN}, headers=headers)
    assert verified.json()["verified"] is True, verified.text
    return task.task_id, account_id, headers


async def _written_for(pool, account_id: str) -> dict[str, int]:
    return {
        table: await pool.fetchval(f"SELECT count(*) FROM {table} WHERE account_id = $1", account_id)
        for table in ("discount_requests", "discount_budget_charges")
    } | {"outbox": await pool.fetchval("SELECT count(*) FROM outbox WHERE key = $1", account_id.encode())}


async def test_a_withheld_discount_for_a_control_arm_case_is_refused_and_writes_nothing(api) -> None:
    task_id, account_id, headers = await _held_task_in(api, "control")
    before = await _written_for(api["pool"], account_id)
    refused = await api["client"].post(
        f"/tasks/{task_id}/discounts", json=PERCENT, headers={**headers, "Idempotency-Key": unique("k")}
    )
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["error"] == "withheld_in_control_arm"
    assert body["message"] == (
        f"the customer of task {task_id} is in the retention control arm, where a percent_next_invoices discount"
        " is withheld."
    )
    assert await _written_for(api["pool"], account_id) == before  # the transaction rolled back
    assert (
        await api["pool"].fetchval(
            "SELECT count(*) FROM idempotency_keys WHERE agent_id = (SELECT"
            " holder_agent_id FROM tasks WHERE task_id = $1)",
            task_id,
        )
        == 0
    )


async def test_the_same_discount_in_the_treatment_arm_is_granted(api) -> None:
    task_id, account_id, headers = await _held_task_in(api, "treatment")
    granted = await api["client"].post(
        f"/tasks/{task_id}/discounts", json=PERCENT, headers={**headers, "Idempotency-Key": unique("k")}
    )
    assert granted.status_code in (201, 202), granted.text
    assert (await _written_for(api["pool"], account_id))["discount_requests"] == 1


async def test_approving_a_withheld_discount_for_a_control_arm_case_is_refused_and_writes_nothing(api) -> None:
    """A pending request whose case is in the control arm (asked before the holdout was enforced, or allowed with a
    reason under a policy changed since): its approval is refused as the grant is, 409, the request still pending."""
    task_id, account_id, headers = await _held_task_in(api, "treatment")
    over_the_agents_limit = {**PERCENT, "kind": "fixed_next_invoice", "amount_minor": 4000}
    del over_the_agents_limit["percent_bp"], over_the_agents_limit["invoice_count"]
    asked = await api["client"].post(
        f"/tasks/{task_id}/discounts", json=over_the_agents_limit, headers={**headers, "Idempotency-Key": unique("k")}
    )
    assert asked.status_code == 202, asked.text
    approval = asked.json()["task_id"]
    pool = api["pool"]
    await pool.execute("UPDATE tasks SET arm = 'control' WHERE task_id = $1", task_id)  # the case is held out
    supervisor, token = await create_agent(pool, unique("sup"), Role.SUPERVISOR)
    await hold_task(pool, supervisor.agent_id, approval, "supervisors")
    before = await _written_for(pool, account_id)
    approve_headers = {"Authorization": f"Bearer {token}"}
    refused = await api["client"].post(
        f"/tasks/{approval}/approve", headers={**approve_headers, "Idempotency-Key": unique("k")}
    )
    assert refused.status_code == 409, refused.text
    assert refused.json() == {
        "error": "withheld_in_control_arm",
        "message": f"the customer of task {task_id} is in the retention control arm, where a fixed_next_invoice"
        " discount is withheld.",
    }
    assert await _written_for(pool, account_id) == before  # no grant, no budget charge, no event
    status = await pool.fetchval("SELECT status FROM discount_requests WHERE task_id = $1", approval)
    assert status == "pending"

    # The same request, its case in the treatment arm, is approved: the refusal was the holdout's.
    await pool.execute("UPDATE tasks SET arm = 'treatment' WHERE task_id = $1", task_id)
    approved = await api["client"].post(
        f"/tasks/{approval}/approve", headers={**approve_headers, "Idempotency-Key": unique("k")}
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "granted"


async def test_periods_with_different_shares_are_reported_apart(live) -> None:
    """Cases of two periods (the share raised from 10 % to 50 %) in one cohort: one report per period, each judged
    by its own plan and share, never summed. On a partition number no broker uses, in a transaction rolled back."""
    base = load_experiment(live).plan
    first, second = (
        Experiment(replace(base, holdout_share=0.1), 1000),
        Experiment(replace(base, holdout_share=0.5), 5000),
    )
    start, partition = datetime(2040, 1, 1, tzinfo=UTC), 9_999
    pool = await create_pool(live)
    try:
        async with pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            try:
                cases = {first.period: (40, 6), second.period: (30, 30)}  # (treatment, control) per period
                for offset, (period, arms) in enumerate(cases.items()):
                    when = start + timedelta(days=offset)
                    await experiment.register_period(conn, first if period == first.period else second, when)
                    for arm, count in zip(("treatment", "control"), arms):
                        for n in range(count):
                            case_id = unique(f"case-{arm}-{n}")
                            await retention_store.record_case(
                                conn,
                                retention_store.CaseFacts(
                                    case_id,
                                    unique("evt"),
                                    unique("acc"),
                                    partition,
                                    "discount_percent",
                                    arm,
                                    "retention",
                                    "call",
                                    1,
                                    1000,
                                    1349 if arm == "treatment" else 0,
                                    "EUR",
                                    when,
                                    period,
                                ),
                            )
                await retention_store.advance_clock(conn, partition, start + timedelta(days=200))
                while (await retention_store.resolve_due(conn, partition)).cases:
                    pass
                report = await report_on(conn, Cohort(start, start + timedelta(days=10)))
                by_period = {r["period"]["period"]: r for r in report["periods"]}
                assert list(by_period) == [first.period, second.period]
                for period, (treated, control) in cases.items():
                    (row,) = [r for r in by_period[period]["practices"] if r["horizon_days"] == 90]
                    assert (row["treatment"]["cases"], row["control"]["cases"]) == (treated, control)
                    assert by_period[period]["analysis_plan"]["holdout_share"] == (
                        0.1 if period == first.period else 0.5
                    )
                assert report["period"]["period"] == second.period  # the latest period leads, alone
                (latest,) = [r for r in report["practices"] if r["horizon_days"] == 90]
                assert (latest["treatment"]["cases"], latest["control"]["cases"]) == (30, 30)
            finally:
                await transaction.rollback()
    finally:
        await pool.close()
