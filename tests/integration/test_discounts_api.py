"""Discounts through the agent API: a tier-1 agent's grant over the limit becomes a supervisor task, the same
agent cannot approve it, a supervisor can; idempotency keys replay or refuse; the audit log has every step.

Relaxed test policy (tests/integration/test_discounts_scenarios.py): agent 2,500 per grant, tier2 10,000,
supervisor 50,000 (EUR cents); no tenure rules.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from billing.care import store
from billing.care.lifecycle import NewTask, insert_task, make_task_id
from billing.entrypoints.api.app import create_app
from billing.identity import verification
from billing.identity.agent_store import create_agent, set_account_pin
from billing.identity.rules.lockout import LockoutPolicy
from billing.identity.rules.roles import Role
from billing.platform.context import create_pool
from tests.integration.helpers import fetch, unique
from tests.integration.test_discounts_scenarios import POLICY, _open_account

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def world(live):
    async for built in api_world(live):
        yield built


async def api_world(live):
    """The agent API in process on ``live``'s stack, with one person per role."""
    app = create_app(live)
    app.state.services.discount_policy = POLICY  # what DISCOUNT_POLICY_PATH would configure
    pool = await create_pool(live)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    people = {
        role: await create_agent(pool, f"{role} {unique('n')}", role)
        for role in (Role.AGENT, Role.TIER2, Role.SUPERVISOR, Role.ANALYST)
    }
    yield {"client": client, "pool": pool, "people": people, "live": live, "app": app}
    await client.aclose()
    await app.state.services.close()
    await pool.close()


async def _hold(pool, agent_id: str, task_id: str, queue: str) -> None:
    """Claim from ``queue`` until this task is ours (others' tasks stay reserved until their lease ends)."""
    now = datetime.now(UTC)
    for _ in range(50):
        claimed = await store.claim_next(pool, agent_id, [queue], 60, now)
        assert claimed is not None, f"task {task_id} never offered"
        if claimed.task_id == task_id:
            await store.accept(pool, task_id, agent_id, now)
            return
    raise AssertionError(f"task {task_id} never offered")


async def _call_task(pool, account: str, agent_id: str, verified: bool = True) -> str:
    """A call task for ``account`` in a queue of its own, held by ``agent_id``; its caller verified unless told."""
    queue, call_id = unique("q"), unique("call")
    task_id = make_task_id("call", call_id)
    await insert_task(
        pool,
        NewTask(
            task_id=task_id,
            kind="call",
            source_event_id=unique("src"),
            account_id=account,
            reason="bill_question",
            rule="test",
            queue=queue,
            tier=1,
            static_priority=10,
            priority=10,
            routed_at=datetime.now(UTC),
            call_id=call_id,
        ),
    )
    await _hold(pool, agent_id, task_id, queue)
    if verified:
        await _verify_caller(pool, account, call_id, agent_id)
    return task_id


async def _verify_caller(pool, account: str, call_id: str, agent_id: str) -> None:
    """The caller gives the right PIN on this call: the verification POST /calls/{id}/verify runs (not audited
    here, so the audit trails these tests assert hold only the money steps)."""
    await set_account_pin(pool, account, CALLER_PIN)
    attempt = verification.Attempt(call_id, account, agent_id, verification.Method.PIN, CALLER_PIN)
    verdict = await verification.verify(pool, attempt, LockoutPolicy(), datetime.now(UTC))
    assert verdict.result == "passed", verdict


CALLER_PIN = "5307"


def _auth(token: str, key: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **({"Idempotency-Key": key} if key else {})}


FIXED = {"kind": "fixed_next_invoice", "amount_minor": 5_000, "reason_code": "outage", "criteria": ["outage 3 days"]}


async def test_over_the_limit_becomes_a_supervisor_task_that_only_another_person_approves(world) -> None:
    client, pool, people = world["client"], world["pool"], world["people"]
    (ann, ann_token), (sue, sue_token) = people[Role.AGENT], people[Role.SUPERVISOR]
    account = await _open_account(world["live"], datetime.now(UTC) - timedelta(days=30))
    call_task = await _call_task(pool, account, ann.agent_id)

    asked = await client.post(f"/tasks/{call_task}/discounts", json=FIXED, headers=_auth(ann_token, "k-1"))
    # 5,000 > the agent's 2,500 per grant: 202 and an approval task in the supervisors queue.
    assert asked.status_code == 202, asked.text
    body = asked.json()
    assert body["status"] == "pending_approval" and body["rule"] == "max_per_grant_minor"
    approval = body["task_id"]
    rows = await fetch(
        world["live"].require_database_url(), "SELECT kind, queue FROM tasks WHERE task_id = $1", approval
    )
    assert [tuple(r) for r in rows] == [("discount_approval", "supervisors")]

    # Idempotency: same key and body -> the first answer, nothing new; same key, other body -> 409.
    again = await client.post(f"/tasks/{call_task}/discounts", json=FIXED, headers=_auth(ann_token, "k-1"))
    assert (again.status_code, again.json()) == (202, body)
    other = await client.post(
        f"/tasks/{call_task}/discounts", json={**FIXED, "amount_minor": 4_000}, headers=_auth(ann_token, "k-1")
    )
    assert (other.status_code, other.json()["error"]) == (409, "idempotency_key_reused")
    requests = await fetch(
        world["live"].require_database_url(), "SELECT count(*) FROM discount_requests WHERE account_id = $1", account
    )
    assert requests[0][0] == 1

    # The requester cannot approve: she cannot even hold the supervisors' task.
    own = await client.post(f"/tasks/{approval}/approve", headers=_auth(ann_token))
    assert (own.status_code, own.json()["error"]) == (403, "not_your_task")

    await _hold(pool, sue.agent_id, approval, "supervisors")
    approved = await client.post(f"/tasks/{approval}/approve", headers=_auth(sue_token, "k-approve"))
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "granted"
    charged = await fetch(
        world["live"].require_database_url(),
        "SELECT charged_to, value_minor FROM discount_budget_charges WHERE account_id = $1",
        account,
    )
    assert [tuple(c) for c in charged] == [(sue.agent_id, 5_000)]
    twice = await client.post(f"/tasks/{approval}/approve", headers=_auth(sue_token, "k-approve-2"))
    assert (twice.status_code, twice.json()["error"]) == (409, "request_not_pending")

    audit = await client.get("/audit", params={"account": account}, headers=_auth(sue_token))
    steps = [(e["action"], e["agent_id"], e["result"]) for e in reversed(audit.json()["entries"])]
    assert steps == [
        ("discounts.request", ann.agent_id, "pending_approval"),
        ("discounts.request", ann.agent_id, "replayed"),
        ("discounts.request", ann.agent_id, "idempotency_key_reused"),
        ("approvals.approve", ann.agent_id, "not_your_task"),
        ("approvals.approve", sue.agent_id, "granted"),
        ("approvals.approve", sue.agent_id, "request_not_pending"),
    ]
    analyst = await client.get("/audit", params={"agent": ann.agent_id}, headers=_auth(people[Role.ANALYST][1]))
    assert analyst.status_code == 200 and len(analyst.json()["entries"]) == 4
    refused_role = await client.get("/audit", params={"agent": ann.agent_id}, headers=_auth(ann_token))
    assert (refused_role.status_code, refused_role.json()["error"]) == (403, "forbidden_role")


async def test_a_requester_holding_their_own_approval_task_still_cannot_decide_it(world) -> None:
    client, pool, people = world["client"], world["pool"], world["people"]
    tom, tom_token = people[Role.TIER2]
    account = await _open_account(world["live"], datetime.now(UTC) - timedelta(days=30))
    call_task = await _call_task(pool, account, tom.agent_id)
    asked = await client.post(
        f"/tasks/{call_task}/discounts", headers=_auth(tom_token, "k-tom-1"), json={**FIXED, "amount_minor": 12_000}
    )  # over tier2's 10,000 per grant
    assert asked.status_code == 202, asked.text
    approval = asked.json()["task_id"]
    await _hold(pool, tom.agent_id, approval, "supervisors")  # e.g. a queue mapping that lets tier2 claim it
    own = await client.post(f"/tasks/{approval}/approve", headers=_auth(tom_token, "k-tom-2"))
    assert (own.status_code, own.json()["error"]) == (403, "separation_of_duties")
    refuse = await client.post(
        f"/tasks/{approval}/refuse", params={"reason": "no"}, headers=_auth(tom_token, "k-tom-3")
    )
    assert (refuse.status_code, refuse.json()["error"]) == (403, "separation_of_duties")
    # Beyond even a supervisor's authority (50,000 per grant) is refused outright, naming the rule.
    beyond = await client.post(
        f"/tasks/{call_task}/discounts", headers=_auth(tom_token, "k-tom-4"), json={**FIXED, "amount_minor": 60_000}
    )
    assert (beyond.status_code, beyond.json()["error"]) == (422, "max_per_grant_minor")
    assert "beyond even supervisor authority" in beyond.json()["message"]
