"""A supervisor reassigns or releases a task through the API: the new holder gets an offer as after a claim, the
old one loses the way to the account, each move writes its task event, and refusals (403 for other roles, 404
unknown, 409 for a state or an agent that cannot take it) change nothing; every request is in the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.care import store
from billing.identity.agent_store import create_agent
from billing.identity.rules.roles import Role
from tests.integration import task_holds_helpers
from tests.integration.helpers import unique
from tests.integration.task_holds_helpers import bearer, routed, task_events

pytestmark = pytest.mark.integration
api = task_holds_helpers.api  # the fixture, under the name the tests ask for


async def test_a_supervisor_reassigns_and_releases_a_task_through_the_api(api) -> None:
    pool, client = api.pool, api.client
    api.clock.now = datetime.now(UTC)
    boss, boss_token = await create_agent(pool, unique("boss"), Role.SUPERVISOR)
    ann, ann_token = await create_agent(pool, unique("ann"), Role.AGENT)
    bob, bob_token = await create_agent(pool, unique("bob"), Role.AGENT)
    task = await routed(pool, api.queue, api.clock.now - timedelta(seconds=30))
    side_task = await routed(pool, api.side, api.clock.now)
    task_id = task.task_id

    def act(verb: str, target_task: str = task_id, token: str = boss_token, **body: str):
        return client.post(f"/tasks/{target_task}/{verb}", headers=bearer(token), json=body or None)

    assert (await client.post("/tasks/claim", headers=bearer(ann_token))).json()["task"]["task_id"] == task_id
    assert (await client.post(f"/tasks/{task_id}/accept", headers=bearer(ann_token))).status_code == 200

    moved = await act("reassign", agent_id=bob.agent_id)
    assert moved.status_code == 200, moved.text
    lease_ends = api.clock.now + timedelta(seconds=api.settings.agent_lease_s)
    assert (moved.json()["task"]["state"], moved.json()["task"]["holder_agent_id"]) == ("reserved", bob.agent_id)
    assert datetime.fromisoformat(moved.json()["task"]["lease_expires_at"]) == lease_ends  # an offer, as a claim's
    ann_view = await client.get(f"/tasks/{task_id}/account", headers=bearer(ann_token))
    assert (ann_view.status_code, ann_view.json()["error"]) == (403, "not_your_task")
    assert (await client.post(f"/tasks/{task_id}/accept", headers=bearer(bob_token))).status_code == 200

    released = await act("release")
    assert released.json()["task"]["state"] == "queued" and released.json()["task"]["holder_agent_id"] is None
    bob_view = await client.get(f"/tasks/{task_id}/account", headers=bearer(bob_token))
    assert (bob_view.status_code, bob_view.json()["error"]) == (403, "not_your_task")
    requeued = await task_events(pool, task_id, "requeued")
    assert [(e.payload.cause, e.event_id) for e in requeued] == [
        ("reassigned", f"{task_id}:reassigned:1"),
        ("released", f"{task_id}:released:2"),
    ]
    answers = await task_events(pool, task_id, "accepted")
    assert [(e.payload.agent_id, e.payload.answered_before) for e in answers] == [
        (ann.agent_id, False),
        (bob.agent_id, True),
    ]

    refusals = [
        (await act("release"), 409),  # waiting: nobody holds it
        (await act("reassign", side_task.task_id, agent_id=bob.agent_id), 409),  # an agent does not serve that queue
        (await act("reassign", agent_id="agt-nobody"), 404),
        (await act("reassign", unique("tsk"), agent_id=bob.agent_id), 404),
        (await act("release", unique("tsk")), 404),
        (await act("reassign", token=ann_token, agent_id=ann.agent_id), 403),
        (await act("release", token=bob_token), 403),
    ]
    assert [r.status_code for r, _ in refusals] == [status for _, status in refusals], [r.text for r, _ in refusals]
    assert "does not serve" in refusals[1][0].json()["message"]
    assert (await store.get_task(pool, task_id)).state == "queued"  # the refusals changed nothing

    assert (await act("reassign", agent_id=bob.agent_id)).status_code == 200
    assert (await act("reassign", agent_id=bob.agent_id)).status_code == 409  # already his
    await client.post(f"/tasks/{task_id}/accept", headers=bearer(bob_token))
    done = await client.post(
        f"/tasks/{task_id}/complete", headers=bearer(bob_token), json={"outcome": "resolved", "practice": "none"}
    )
    assert done.json()["task"]["state"] == "completed"
    assert (await act("reassign", agent_id=ann.agent_id)).status_code == 409
    assert (await act("release")).status_code == 409

    audit = await pool.fetch(
        "SELECT action, status, result, task_id, account_id FROM audit_log WHERE agent_id = $1 ORDER BY audit_id",
        boss.agent_id,
    )
    assert [(r["action"], r["status"]) for r in audit] == [
        ("tasks.reassign", 200),
        ("tasks.release", 200),
        ("tasks.release", 409),
        ("tasks.reassign", 409),
        ("tasks.reassign", 404),
        ("tasks.reassign", 404),
        ("tasks.release", 404),
        ("tasks.reassign", 200),
        ("tasks.reassign", 409),
        ("tasks.reassign", 409),
        ("tasks.release", 409),
    ]
    assert audit[0]["task_id"] == task_id and audit[0]["account_id"] == task.account_id
