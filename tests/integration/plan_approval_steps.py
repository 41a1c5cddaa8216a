"""The steps of account A in tests/integration/test_plan_change_in_effect.py (the scenario and its hand-worked
amounts are in that module's docstring): a downgrade above the agent's authority sent to a supervisor, refused to a
supervisor above their own limit, approved once, and a second request declined on the wall."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.integration.agent_api_helpers import bearer
from tests.integration.helpers import eventually, unique
from tests.integration.plan_approval_helpers import (
    account_view,
    approve,
    audit,
    change,
    hold_approval,
    periods,
    plan_change_events,
    row_of,
)

OPENED = datetime(2027, 12, 1, tzinfo=UTC)
NEXT_CYCLE = "2028-02-01T00:00:00+00:00"


async def a_downgrade_goes_to_a_supervisor(pool, client, strict, a: str, task_id: str, people) -> None:
    (ana_id, ana), (sam_id, sam) = people["ana"], people["sam"]
    view = await account_view(client, task_id, ana)
    assert (view["plan_id"], view["plan_pending"]) == ("mobile-l", None)

    # mobile-l (2,999) to mobile-s (1,099) lowers the monthly fee by 1,900: above the agent's 1,500, within a tier
    # 2's 5,000 and a supervisor's 20,000, so it goes to a supervisor. The same key answers the same again.
    key, why = unique("k"), "moves abroad, hardly calls"
    asked = await change(client, task_id, ana, "mobile-s", "next_cycle", key, reason=why)
    assert asked.status_code == 202, asked.text
    body = asked.json()
    approval = body["task_id"]
    assert body == {
        "status": "pending_approval",
        "request_id": body["request_id"],
        "value_minor": 1900,
        "rule": "max_plan_change_reduction_minor",
        "reason": "max_plan_change_reduction_minor: the change lowers the monthly recurring fee by 1900 EUR minor"
        " units, above the agent limit of 1500 (over by 400); sent to a supervisor for approval (a tier2 or"
        " supervisor may approve it)",
        "task_id": approval,
        "exceeded": ["max_plan_change_reduction_minor: would reach 1900, limit 1500 (over by 400)"],
        "case_task_id": task_id,
        "account_id": a,
        "previous_plan_id": "mobile-l",
        "plan_id": "mobile-s",
        "effective": "next_cycle",
        "recurring_change_minor": -1900,
        "currency": "EUR",
    }
    assert body["request_id"].startswith("pcr-") and approval != task_id
    again = await change(client, task_id, ana, "mobile-s", "next_cycle", key, reason=why)
    assert (again.status_code, again.json()) == (202, body)

    # Nothing published, no practice, the plan history untouched; the agent's task records what it waits for.
    assert await plan_change_events(pool, a) == []
    assert await pool.fetchval("SELECT practice FROM tasks WHERE task_id = $1", task_id) is None
    assert await periods(pool, a) == [("mobile-l", OPENED.isoformat())]
    mine = (await client.get("/tasks/mine", headers=bearer(ana))).json()["tasks"]
    assert [(task["task_id"], task["pending_approval_task_id"]) for task in mine] == [(task_id, approval)]
    options = (await client.get(f"/tasks/{task_id}/plan-options", headers=bearer(ana))).json()
    assert options["approval_pending"] == {
        "request_id": body["request_id"],
        "task_id": approval,
        "plan_id": "mobile-s",
        "effective": "next_cycle",
        "requested_by": ana_id,
    }
    # While it waits no other change is made on the account, not even one within the agent's authority.
    meanwhile = await change(client, task_id, ana, "mobile-m", "next_cycle")
    assert (meanwhile.status_code, meanwhile.json()["error"]) == (409, "plan_change_pending_approval")

    # The supervisor sees it on the approvals list (the wall's table reads it; the wall itself: the decline below).
    listed = (await client.get("/approvals", headers=bearer(sam))).json()["approvals"]
    row = next(row for row in listed if row["task_id"] == approval)
    shown = ("account_id", "kind", "from_plan_id", "plan_id", "fee_change_minor", "currency", "requested_by", "reason")
    assert {k: row[k] for k in shown} == {
        "account_id": a,
        "kind": "plan_change",
        "from_plan_id": "mobile-l",
        "plan_id": "mobile-s",
        "fee_change_minor": -1900,
        "currency": "EUR",
        "requested_by": ana_id,
        "reason": why,
    }

    # The business cut every plan-change limit meanwhile (a supervisor's to 1,000): 1,900 is above it, so this
    # supervisor may not approve it; nothing is published and the request still waits.
    await hold_approval(client, sam, sam_id, approval)
    over = await approve(strict, approval, sam, unique("k"))
    assert (over.status_code, over.json()["error"]) == (403, "max_plan_change_reduction_minor")
    assert over.json()["message"] == (
        "max_plan_change_reduction_minor: the change lowers the monthly recurring fee by 1900 EUR minor units,"
        f" above the supervisor limit of 1000 (over by 900); approver {sam_id} lacks the authority to approve it"
    )
    assert await plan_change_events(pool, a) == []

    # Under the policy in force the supervisor approves it: from the next cycle computed at the approval in event
    # time (early January: 1 February), published once, by the supervisor for the agent; the agent's task records
    # the practice and waits no more.
    key = unique("k")
    approved = await approve(client, approval, sam, key)
    assert approved.status_code == 200, approved.text
    answer = approved.json()
    facts = ("status", "request_id", "case_task_id", "previous_plan_id", "plan_id", "effective_at", "practice")
    assert {k: answer[k] for k in facts} == {
        "status": "changed",
        "request_id": body["request_id"],
        "case_task_id": task_id,
        "previous_plan_id": "mobile-l",
        "plan_id": "mobile-s",
        "effective_at": NEXT_CYCLE,
        "practice": "plan_change",
    }
    assert (answer["recurring_change_minor"], answer["requested_by"], answer["approved_by"]) == (-1900, ana_id, sam_id)
    events = await plan_change_events(pool, a)
    assert [(e["event_id"], e["source"], e["payload"]["plan_id"]) for e in events] == [
        (answer["event_id"], f"care/agent-api/{sam_id}/for/{ana_id}", "mobile-s")
    ]
    marks = await pool.fetchrow("SELECT practice, pending_approval_task_id FROM tasks WHERE task_id = $1", task_id)
    assert tuple(marks) == ("plan_change", None)
    # Approved again, with the same key or another: the same answer, nothing more published.
    for repeat_key in (key, unique("k")):
        repeated = await approve(client, approval, sam, repeat_key)
        assert (repeated.status_code, repeated.json()) == (200, answer)
    assert len(await plan_change_events(pool, a)) == 1
    done = {"outcome": "resolved", "practice": "none"}
    completed = await client.post(f"/tasks/{approval}/complete", headers=bearer(sam), json=done)
    assert completed.status_code == 200, completed.text
    await eventually(
        lambda: periods(pool, a), lambda p: p == [("mobile-l", OPENED.isoformat()), ("mobile-s", NEXT_CYCLE)]
    )
    assert await audit(pool, task_id, "tasks.plan_change") == [
        (202, "pending_approval"),
        (202, "replayed"),
        (409, "plan_change_pending_approval"),
    ]
    assert await audit(pool, approval, "approvals.approve") == [
        (403, "max_plan_change_reduction_minor"),
        (200, "changed"),
        (200, "replayed"),
        (200, "replayed"),
    ]


async def a_supervisor_declines_a_change_now(pool, client, wall, a: str, task_id: str, people) -> None:
    """The customer would rather have mobile-s from today: 19.00 less, sent to a supervisor again, who declines it
    on the wall. Nothing is published: January stays on mobile-l (the invoice totals below)."""
    ana_id, ana = people["ana"]
    sam_id = people["sam"][0]
    asked = await change(client, task_id, ana, "mobile-s", "now", reason="wants the saving from today")
    assert asked.status_code == 202, asked.text
    approval = asked.json()["task_id"]
    # The wall's row: the account, both plans, the monthly fee's change in the account's currency, who and why.
    row = row_of(await wall.approvals(), approval)
    for shown in (a, "plan change: mobile-l to mobile-s, now", "-19.00 EUR a month", "wants the saving", ana_id):
        assert shown in row, row
    declined = await wall.decide("refuse", approval, "the contract runs to the end of the cycle")
    assert "Request refused." in declined and 'class="error"' not in declined, declined
    assert f'data-task-id="{approval}"' not in declined  # gone from the approvals waiting
    decided = await pool.fetchrow(
        "SELECT r.status, r.decided_by, t.state FROM plan_change_requests r JOIN tasks t ON t.task_id = r.task_id"
        " WHERE r.task_id = $1",
        approval,
    )
    assert tuple(decided) == ("refused", sam_id, "completed")
    assert len(await plan_change_events(pool, a)) == 1  # still only the approved change
    assert await pool.fetchval("SELECT pending_approval_task_id FROM tasks WHERE task_id = $1", task_id) is None
    assert await audit(pool, approval, "approvals.refuse") == [(200, "refused")]
