"""Discounts through the agent API: a tier-1 agent's grant over the limit becomes a supervisor task, the same
agent cannot approve it, a supervisor can; idempotency keys replay or refuse; the audit log has every step.

Relaxed test policy (tests/integration/discounts_helpers.py): agent 2,500 per grant, tier2 10,000,
supervisor 50,000 (EUR cents); no tenure rules.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.identity.rules.roles import Role
from tests.integration.discounts_helpers import (
    open_account,
)
from tests.integration.helpers import fetch
from tests.integration.money_api_helpers import (
    api_world,
    auth_headers,
    held_call_task,
    hold_task,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def world(live):
    async for built in api_world(live):
        yield built


FIXED = {"kind": "fixed_next_invoice", "amount_minor": 5_000, "reason_code": "outage", "criteria": ["outage 3 days"]}


async def test_over_the_limit_becomes_a_supervisor_task_that_only_another_person_approves(world) -> None:
    client, pool, people = world["client"], world["pool"], world["people"]
    (ann, ann_token), (sue, sue_token) = people[Role.AGENT], people[Role.SUPERVISOR]
    account = await open_account(world["live"], datetime.now(UTC) - timedelta(days=30))
    call_task = await held_call_task(pool, account, ann.agent_id)

    asked = await client.post(f"/tasks/{call_task}/discounts", json=FIXED, headers=auth_headers(ann_token, "k-1"))
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
    again = await client.post(f"/tasks/{call_task}/discounts", json=FIXED, headers=auth_headers(ann_token, "k-1"))
    assert (again.status_code, again.json()) == (202, body)
    other = await client.post(
        f"/tasks/{call_task}/discounts", json={**FIXED, "amount_minor": 4_000}, headers=auth_headers(ann_token, "k-1")
    )
    assert (other.status_code, other.json()["error"]) == (409, "idempotency_key_reused")
    requests = await fetch(
        world["live"].require_database_url(), "SELECT count(*) FROM discount_requests WHERE account_id = $1", account
    )
    assert requests[0][0] == 1

    # The requester cannot approve: she cannot even hold the supervisors' task.
    own = await client.post(f"/tasks/{approval}/approve", headers=auth_headers(ann_token))
    assert (own.status_code, own.json()["error"]) == (403, "not_your_task")

    await hold_task(pool, sue.agent_id, approval, "supervisors")
    approved = await client.post(f"/tasks/{approval}/approve", headers=auth_headers(sue_token, "k-approve"))
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "granted"
    charged = await fetch(
        world["live"].require_database_url(),
        "SELECT charged_to, value_minor FROM discount_budget_charges WHERE account_id = $1",
        account,
    )
    assert [tuple(c) for c in charged] == [(sue.agent_id, 5_000)]
    twice = await client.post(f"/tasks/{approval}/approve", headers=auth_headers(sue_token, "k-approve-2"))
    assert (twice.status_code, twice.json()["error"]) == (409, "request_not_pending")

    audit = await client.get("/audit", params={"account": account}, headers=auth_headers(sue_token))
    steps = [(e["action"], e["agent_id"], e["result"]) for e in reversed(audit.json()["entries"])]
    assert steps == [
        ("discounts.request", ann.agent_id, "pending_approval"),
        ("discounts.request", ann.agent_id, "replayed"),
        ("discounts.request", ann.agent_id, "idempotency_key_reused"),
        ("approvals.approve", ann.agent_id, "not_your_task"),
        ("approvals.approve", sue.agent_id, "granted"),
        ("approvals.approve", sue.agent_id, "request_not_pending"),
    ]
    analyst = await client.get("/audit", params={"agent": ann.agent_id}, headers=auth_headers(people[Role.ANALYST][1]))
    assert analyst.status_code == 200 and len(analyst.json()["entries"]) == 4
    refused_role = await client.get("/audit", params={"agent": ann.agent_id}, headers=auth_headers(ann_token))
    assert (refused_role.status_code, refused_role.json()["error"]) == (403, "forbidden_role")


async def test_a_requester_holding_their_own_approval_task_still_cannot_decide_it(world) -> None:
    client, pool, people = world["client"], world["pool"], world["people"]
    tom, tom_token = people[Role.TIER2]
    account = await open_account(world["live"], datetime.now(UTC) - timedelta(days=30))
    call_task = await held_call_task(pool, account, tom.agent_id)
    asked = await client.post(
        f"/tasks/{call_task}/discounts",
        headers=auth_headers(tom_token, "k-tom-1"),
        json={**FIXED, "amount_minor": 12_000},
    )  # over tier2's 10,000 per grant
    assert asked.status_code == 202, asked.text
    approval = asked.json()["task_id"]
    await hold_task(pool, tom.agent_id, approval, "supervisors")  # e.g. a queue mapping that lets tier2 claim it
    own = await client.post(f"/tasks/{approval}/approve", headers=auth_headers(tom_token, "k-tom-2"))
    assert (own.status_code, own.json()["error"]) == (403, "separation_of_duties")
    refuse = await client.post(
        f"/tasks/{approval}/refuse", params={"reason": "no"}, headers=auth_headers(tom_token, "k-tom-3")
    )
    assert (refuse.status_code, refuse.json()["error"]) == (403, "separation_of_duties")
    # Beyond even a supervisor's authority (50,000 per grant) is refused outright, naming the rule.
    beyond = await client.post(
        f"/tasks/{call_task}/discounts",
        headers=auth_headers(tom_token, "k-tom-4"),
        json={**FIXED, "amount_minor": 60_000},
    )
    assert (beyond.status_code, beyond.json()["error"]) == (422, "max_per_grant_minor")
    assert "beyond even supervisor authority" in beyond.json()["message"]
