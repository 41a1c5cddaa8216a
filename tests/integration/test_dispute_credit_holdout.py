"""The retention holdout applies to a dispute credit that is a retention practice, when it is created, as it does to
a discount: on the real broker and PostgreSQL, through the agent API, with a plan that withholds the goodwill
credit from the control arm.

Which dispute credits are a retention practice (src/billing/credits/rules/goodwill.py): a dispute names its reason
when it is opened; `incorrect_charge`, `service_not_received`, `roaming` and `fraud` name a billing error, and their
credit corrects it: never withheld, neither when it is asked nor when a second person approves it. A dispute whose
reason is `other` names no billing error: its credit is a goodwill gesture, the practice `credit`, and in the
control arm of a period whose plan withholds `credit` it is refused (409 `withheld_in_control_arm`, one sentence,
nothing written), as `POST /tasks/{id}/discounts` refuses a goodwill credit note.

Everything the tests act on is the system's own: the stack's workers route the customer's call and draw its arm
(holdout share 50 %, the plan below), the disputes are projected from the topic (opened through the API's own
route, or by an upstream producer), and the credit is asked through `POST /tasks/{id}/disputes/{id}/resolve`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing.contracts.disputes import DisputeReason
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.identity.agent_store import set_account_pin
from billing.identity.rules.roles import Role
from billing.platform.settings import Settings
from billing.platform.topics import TASK_EVENTS
from billing.retention.plan_config import load_experiment
from billing.retention.rules.arms import Arm, assign_arm
from tests.integration.agent_api_helpers import PIN, bearer, call_started, claim_until, customer, publish_customer
from tests.integration.conftest import own_stack
from tests.integration.discounts_helpers import dispute_opened
from tests.integration.helpers import eventually, unique
from tests.integration.money_api_helpers import api_world, auth_headers, hold_task

pytestmark = pytest.mark.integration

SHARE_BP = 5000
# The period's plan withholds the goodwill credit from the control arm, beside the two discounts.
PLAN = """
version: credit-holdout-test
withheld: [credit, discount_fixed, discount_percent]
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Settings:
    plan = tmp_path_factory.mktemp("plan") / "plan.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    with own_stack("credit-holdout", retention_plan=plan, retention_holdout_share=SHARE_BP / 10_000) as launcher:
        yield launcher.settings


@pytest.fixture(scope="module")
async def world(live: Settings):
    async for built in api_world(live):
        yield built


@pytest.fixture(scope="module")
async def insisting(live: Settings):
    """The same API where the business insists (RETENTION_CONTROL_GRANTS=allow_with_reason)."""
    async for built in api_world(live.model_copy(update={"retention_control_grants": "allow_with_reason"})):
        yield built


def account_in(arm: Arm) -> str:
    while assign_arm(account := unique(f"acc-{arm.value}"), SHARE_BP) is not arm:
        pass
    return account


async def on_a_call(world, arm: Arm) -> dict:
    """A customer whose call the workers routed into ``arm``, claimed, accepted and verified by a tier-1 agent."""
    live, pool, client = world["live"], world["pool"], world["client"]
    account, invoice_id, call_id = account_in(arm), unique("inv"), unique("call")
    now = datetime.now(UTC)
    await publish_customer(live, pool, account, customer(account, invoice_id, now))
    await publish(live.require_bootstrap(), [record_of(call_started(account, call_id, invoice_id, now))])
    task = await eventually(lambda: pool.fetchrow("SELECT * FROM tasks WHERE call_id = $1", call_id), bool)
    assert (task["arm"], task["period"]) == (arm.value, load_experiment(live).period)  # drawn by the worker
    _, token = world["people"][Role.AGENT]
    await claim_until(client, token, task["task_id"])
    assert (await client.post(f"/tasks/{task['task_id']}/accept", headers=bearer(token))).status_code == 200
    await set_account_pin(pool, account, PIN)
    verified = await client.post(f"/calls/{call_id}/verify", json={"pin": PIN}, headers=bearer(token))
    assert verified.json()["verified"] is True, verified.text
    return {"account": account, "invoice_id": invoice_id, "task_id": task["task_id"], "token": token, "now": now}


async def opened_by_the_agent(world, case: dict, reason: DisputeReason) -> str:
    """The agent opens a dispute on the invoice's roaming line (800) through the API; projected from the topic."""
    opened = await world["client"].post(
        f"/tasks/{case['task_id']}/disputes",
        json={"invoice_id": case["invoice_id"], "line_id": "roam", "reason": reason.value},
        headers=bearer(case["token"]),
    )
    assert opened.status_code == 201, opened.text
    return await projected(world, opened.json()["dispute_id"])


async def projected(world, dispute_id: str) -> str:
    """Once the dispute is projected and routed as a task by the workers (its events are all written then)."""
    pool = world["pool"]
    await eventually(
        lambda: pool.fetchval("SELECT count(*) FROM tasks WHERE kind = 'dispute' AND dispute_id = $1", dispute_id),
        bool,
    )
    return dispute_id


async def written(pool, account: str, dispute_id: str) -> dict:
    """What a credit would write: the authority's rows, the credit note, the dispute's steps and its events (task
    events aside: the workers may widen the dispute's own task meanwhile)."""
    counts = {
        table: await pool.fetchval(f"SELECT count(*) FROM {table} WHERE account_id = $1", account)
        for table in ("discount_requests", "discount_budget_charges", "credit_notes")
    }
    return counts | {
        "transitions": await pool.fetchval(
            "SELECT count(*) FROM dispute_transitions WHERE dispute_id = $1", dispute_id
        ),
        "dispute": tuple(
            await pool.fetchrow("SELECT stage, status, held_minor FROM disputes WHERE dispute_id = $1", dispute_id)
        ),
        "events": await pool.fetchval(
            "SELECT count(*) FROM outbox WHERE key = $1 AND topic <> $2", account.encode(), TASK_EVENTS.name
        ),
    }


def resolve(world, case: dict, dispute_id: str, credit_minor: int, **extra: str):
    return world["client"].post(
        f"/tasks/{case['task_id']}/disputes/{dispute_id}/resolve",
        json={"outcome": "credited", "credit_minor": credit_minor, "reason": "customer unhappy with the bill", **extra},
        headers=auth_headers(case["token"], unique("key")),
    )


async def test_a_goodwill_dispute_credit_in_the_control_arm_is_refused_and_writes_nothing(world) -> None:
    case = await on_a_call(world, Arm.CONTROL)
    dispute_id = await opened_by_the_agent(world, case, DisputeReason.OTHER)
    before = await written(world["pool"], case["account"], dispute_id)
    keys = "SELECT count(*) FROM idempotency_keys WHERE agent_id = $1 AND action = 'disputes.resolve'"
    agent_id = world["people"][Role.AGENT][0].agent_id
    keys_before = await world["pool"].fetchval(keys, agent_id)
    refused = await resolve(world, case, dispute_id, 500)
    assert refused.status_code == 409, refused.text
    assert refused.json() == {
        "error": "withheld_in_control_arm",
        "message": f"the customer of task {case['task_id']} is in the retention control arm, where a credit_note"
        " discount is withheld.",
    }
    assert await written(world["pool"], case["account"], dispute_id) == before  # the transaction rolled back
    assert await world["pool"].fetchval(keys, agent_id) == keys_before  # not even the key is kept


async def test_the_same_goodwill_credit_in_the_treatment_arm_is_granted(world) -> None:
    case = await on_a_call(world, Arm.TREATMENT)
    dispute_id = await opened_by_the_agent(world, case, DisputeReason.OTHER)
    credited = await resolve(world, case, dispute_id, 500)
    assert credited.status_code == 200, credited.text
    assert credited.json()["credit_minor"] == 500 and credited.json()["credit_note_number"].startswith("CN-")


async def test_a_credit_correcting_a_billing_error_in_the_control_arm_is_never_withheld(world) -> None:
    case = await on_a_call(world, Arm.CONTROL)
    dispute_id = await opened_by_the_agent(world, case, DisputeReason.INCORRECT_CHARGE)
    credited = await resolve(world, case, dispute_id, 500)
    assert credited.status_code == 200, credited.text
    assert credited.json()["outcome"] == "credited" and credited.json()["credit_minor"] == 500


async def test_its_approval_above_the_agents_authority_is_not_withheld_either(world) -> None:
    """A billing-error dispute of 3,000 opened by an upstream producer; 2,600 credited is above the tier-1 agent's
    2,500 per grant, so it waits for a supervisor, whose approval issues it although the case is held out."""
    pool, client = world["pool"], world["client"]
    case = await on_a_call(world, Arm.CONTROL)
    dispute = dispute_opened(case["account"], case["invoice_id"], 3_000, DisputeReason.ROAMING, case["now"])
    await publish(world["live"].require_bootstrap(), [record_of(dispute)])
    dispute_id = await projected(world, dispute.payload.dispute_id)
    asked = await resolve(world, case, dispute_id, 2_600)
    assert asked.status_code == 202, asked.text
    approval = asked.json()["task_id"]
    supervisor, token = world["people"][Role.SUPERVISOR]
    await hold_task(pool, supervisor.agent_id, approval, "supervisors")
    approved = await client.post(f"/tasks/{approval}/approve", headers=auth_headers(token, unique("key")))
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "granted" and approved.json()["credit_note_number"].startswith("CN-")
    stage = await pool.fetchval("SELECT stage FROM disputes WHERE dispute_id = $1", dispute_id)
    assert stage == "credited"


async def test_where_the_business_insists_a_reason_lets_it_through_and_goes_with_the_grant(insisting) -> None:
    case = await on_a_call(insisting, Arm.CONTROL)
    dispute_id = await opened_by_the_agent(insisting, case, DisputeReason.OTHER)
    without = await resolve(insisting, case, dispute_id, 500)
    assert (without.status_code, without.json()["error"]) == (409, "withheld_in_control_arm")
    assert without.json()["message"].endswith("withheld unless a control_arm_reason is given.")
    credited = await resolve(insisting, case, dispute_id, 500, control_arm_reason="retention team escalation")
    assert credited.status_code == 200, credited.text
    criteria = await insisting["pool"].fetchval(
        "SELECT criteria FROM discount_requests WHERE request_id = $1", f"dispute:{dispute_id}"
    )
    assert criteria == [f"dispute {dispute_id}", "control-arm exception: retention team escalation"]
