"""Holds that end, on the real stack.

* The access rule refuses a hold whose time ran out by the API's clock (the offer's lease, the handling limit, the
  wrap-up limit) on every route it guards, with 409, before any sweeper has ended it; the refusal changes nothing.
* The workers' sweeper returns an accepted task past its handling limit to its queue and closes a wrap-up past its
  limit as `wrap_up_timed_out`; several sweepers at once move each task once; the service metrics count a task
  answered twice as one answer.
* Revoking an agent returns its tasks at once. (A supervisor's reassignment and release: test_task_supervision.py.)

The API runs in-process (httpx over ASGI) with a clock of the test's own; its agents claim from queues of the test
only. Times the workers' sweeper must not act on lie an hour ahead of the real clock; times it must act on lie
hours behind it, so each test waits for an outcome and never for a duration.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from billing.care import store
from billing.care.holds import release, time_out_holds
from billing.care.lifecycle import cancel_for_call
from billing.care.rules.queue_model import hold_limits
from billing.identity.agent_store import create_agent, revoke_agent
from billing.identity.rules.roles import Role
from tests.integration import task_holds_helpers
from tests.integration.agent_api_helpers import queue_counts
from tests.integration.helpers import eventually, unique
from tests.integration.task_holds_helpers import bearer, routed, task_events

pytestmark = pytest.mark.integration
api = task_holds_helpers.api  # the fixture, under the name the tests ask for

# A valid body for each route of the access rule that reads one before it asks the rule.
BODIES = {
    "/tasks/{task_id}/complete": {"outcome": "resolved", "practice": "none"},
    "/calls/{call_id}/verify": {"pin": "1234"},
    "/calls/{call_id}/otp": {"channel": "sms"},
    "/tasks/{task_id}/disputes": {"invoice_id": "inv-1", "line_id": "l1", "reason": "other"},
    "/tasks/{task_id}/plan-change": {"plan_id": "mobile-l", "effective": "next_cycle"},
}


LIFECYCLE_STEPS = ("/accept", "/reject", "/wrap-up", "/complete")


def access_rule_routes(app) -> list[tuple[str, str]]:
    """Every route an agent reaches a task or call through, from the app's own route table."""
    return [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method, operation in operations.items()
        if "agent" in operation["x-roles"] and ("{task_id}" in path or "{call_id}" in path)
    ]


def fill(path: str, task) -> str:
    path = path.replace("{task_id}", task["task_id"]).replace("{call_id}", task["call_id"])
    return path.replace("{dispute_id}", "dsp-none")


# --- point 16: the access rule ends with the hold, at the API's clock ---------------------------------------


@pytest.mark.parametrize(
    ("state", "code"),
    [("reserved", "lease_expired"), ("accepted", "handle_timed_out"), ("wrapping", "wrap_up_timed_out")],
)
async def test_every_route_of_the_access_rule_refuses_a_hold_whose_time_ran_out(api, state: str, code: str) -> None:
    t0 = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)  # ahead of the workers' sweeper
    api.clock.now = t0
    await routed(api.pool, api.queue, t0 - timedelta(seconds=5))
    _, token = await create_agent(api.pool, unique("ana"), Role.AGENT)
    task = (await api.client.post("/tasks/claim", headers=bearer(token))).json()["task"]
    limits, lease_s = hold_limits(api.settings), api.settings.agent_lease_s
    ends = t0 + timedelta(seconds=lease_s)
    if state in ("accepted", "wrapping"):
        api.clock.now = t0 + timedelta(seconds=1)
        assert (await api.client.post(f"/tasks/{task['task_id']}/accept", headers=bearer(token))).status_code == 200
        ends = t0 + timedelta(seconds=1 + limits.handle_s)
    if state == "wrapping":
        api.clock.now = t0 + timedelta(seconds=2)
        assert (await api.client.post(f"/tasks/{task['task_id']}/wrap-up", headers=bearer(token))).status_code == 200
        ends = t0 + timedelta(seconds=2 + limits.wrap_up_s)

    api.clock.now = ends - timedelta(milliseconds=1)  # still held: the rule lets the agent through
    view = await api.client.get(f"/tasks/{task['task_id']}/account", headers=bearer(token))
    assert (view.status_code, view.json()["error"]) == (404, "not_found")  # its account is not known, that is all

    api.clock.now = ends  # half-open, like the lease: from this instant on it is not held
    # The lifecycle steps last: were one let through (a reject), it would change the task for the routes after it.
    routes = sorted(access_rule_routes(api.app), key=lambda route: route[1].endswith(LIFECYCLE_STEPS))
    assert len(routes) >= 12, routes  # tasks, accounts, calls, money and offer routes
    answers = {}
    for method, path in routes:
        response = await api.client.request(method, fill(path, task), headers=bearer(token), json=BODIES.get(path, {}))
        answers[f"{method} {path}"] = (response.status_code, response.json().get("error"), "ran out" in response.text)
    assert {route: answer for route, answer in answers.items() if answer != (409, code, True)} == {}
    row = await api.pool.fetchrow("SELECT state, holder_agent_id FROM tasks WHERE task_id = $1", task["task_id"])
    assert (row["state"], row["holder_agent_id"]) == (state, task["holder_agent_id"])  # the refusals changed nothing


# --- point 18: holds that end without their agent ----------------------------------------------------------


async def test_the_sweeper_returns_a_task_past_its_handling_limit_and_its_second_answer_counts_once(api) -> None:
    pool, queue = api.pool, unique("q")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)  # 3 h > TASK_HANDLE_TIMEOUT_S (2 h)
    task = await routed(pool, queue, t0)
    ann, ann_token = await create_agent(pool, unique("ann"), Role.AGENT)
    await store.claim_next(pool, ann.agent_id, [queue], 4 * 3600, t0)  # a lease no sweeper ends first
    await store.accept(pool, task.task_id, ann.agent_id, t0 + timedelta(seconds=5))

    back = await eventually(lambda: store.get_task(pool, task.task_id), lambda t: t.state == "queued")
    assert (back.holder_agent_id, back.first_accepted_at) == (None, t0 + timedelta(seconds=5))
    requeued = await task_events(pool, task.task_id, "requeued")
    assert [(e.payload.cause, e.event_id) for e in requeued] == [
        ("handle_timed_out", f"{task.task_id}:handle_timed_out:1")
    ]
    api.clock.now = datetime.now(UTC)
    gone = await api.client.get(f"/tasks/{task.task_id}/account", headers=bearer(ann_token))
    assert (gone.status_code, gone.json()["error"]) == (403, "not_your_task")

    now = datetime.now(UTC)
    await store.claim_next(pool, "agent-bob", [queue], 60, now)
    await store.accept(pool, task.task_id, "agent-bob", now)
    await store.complete(pool, task.task_id, "agent-bob", "resolved", "none", 0, now)
    first, second = await task_events(pool, task.task_id, "accepted")
    # Both answers report the caller's one wait: routed (t0) to Ann's answer (t0 + 5 s) = 5,000 ms.
    assert [(e.payload.agent_id, e.payload.waited_ms, e.payload.answered_before) for e in (first, second)] == [
        (ann.agent_id, 5_000, False),
        ("agent-bob", 5_000, True),
    ]
    # The completion is behind both answers on the account's partition: once it is counted, so are they.
    counts = await eventually(lambda: queue_counts(api.settings, queue), lambda c: c["completed"] == 1)
    assert (counts["entered"], counts["answered"]) == (1, 1)


async def test_the_sweeper_closes_a_wrap_up_past_its_limit_as_timed_out(api) -> None:
    pool, queue = api.pool, unique("q")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)  # 1 h < the handling limit, > the wrap-up's
    task = await routed(pool, queue, t0)
    await store.claim_next(pool, "agent-cy", [queue], 2 * 3600, t0)
    await store.accept(pool, task.task_id, "agent-cy", t0 + timedelta(seconds=1))
    await store.wrap_up(pool, task.task_id, "agent-cy", t0 + timedelta(seconds=2))

    done = await eventually(lambda: store.get_task(pool, task.task_id), lambda t: t.state == "completed")
    # Closed when its wrap-up limit ran out: wrapping at t0 + 2 s, plus TASK_WRAP_UP_TIMEOUT_S (1,800 s).
    assert done.completed_at == t0 + timedelta(seconds=1802)
    assert (done.outcome, done.practice, done.arm, done.discount_minor) == (
        "wrap_up_timed_out",
        "none",
        "not_eligible",
        0,
    )
    (completed,) = await task_events(pool, task.task_id, "completed")
    # Waited t0 -> t0 + 1 s = 1,000 ms; handled t0 + 1 s -> t0 + 1,802 s = 1,801,000 ms.
    p = completed.payload
    assert (p.outcome, p.agent_id, p.waited_ms, p.handle_ms) == ("wrap_up_timed_out", "agent-cy", 1_000, 1_801_000)
    assert completed.occurred_at == done.completed_at


async def test_sweepers_running_at_once_end_each_hold_once(api) -> None:
    """Four sweeps of our own at the same instant, besides the two workers': each task is returned once."""
    pool, queue = api.pool, unique("q")
    t0 = datetime.now(UTC) - timedelta(hours=3)
    async with pool.acquire() as conn, conn.transaction():  # all due at once, when this commits
        tasks = [await routed(pool, queue, t0, conn) for _ in range(20)]
        for n in range(len(tasks)):
            claimed = await store.claim_next(conn, f"agent-{n}", [queue], 4 * 3600, t0)
            await store.accept(conn, claimed.task_id, f"agent-{n}", t0 + timedelta(seconds=1))
    limits, now = hold_limits(api.settings), datetime.now(UTC)
    results = await asyncio.gather(*(time_out_holds(pool, now, limits) for _ in range(4)))
    ours = [t.task_id for result in results for t in result.requeued if t.task_id in {x.task_id for x in tasks}]
    assert len(ours) == len(set(ours)), "no task was returned by two sweeps"
    await eventually(
        lambda: pool.fetchval("SELECT count(*) FROM tasks WHERE queue = $1 AND state = 'queued'", queue),
        lambda n: n == 20,
    )
    for task in tasks:
        requeued = await task_events(pool, task.task_id, "requeued")
        assert [e.event_id for e in requeued] == [f"{task.task_id}:handle_timed_out:1"]


async def test_revoking_an_agent_returns_its_tasks_at_once(api) -> None:
    pool, queue, now = api.pool, unique("q"), datetime.now(UTC)
    tasks = [await routed(pool, queue, now - timedelta(seconds=10 - i)) for i in range(3)]
    dan, token = await create_agent(pool, unique("dan"), Role.AGENT)
    for _ in tasks:
        await store.claim_next(pool, dan.agent_id, [queue], 3600, now)
    await store.accept(pool, tasks[1].task_id, dan.agent_id, now)
    await store.accept(pool, tasks[2].task_id, dan.agent_id, now)
    await store.wrap_up(pool, tasks[2].task_id, dan.agent_id, now)  # reserved, accepted, wrapping

    assert await revoke_agent(pool, dan.agent_id)
    rows = await pool.fetch("SELECT state, holder_agent_id FROM tasks WHERE queue = $1", queue)
    assert [(r["state"], r["holder_agent_id"]) for r in rows] == [("queued", None)] * 3
    for task in tasks:
        requeued = await task_events(pool, task.task_id, "requeued")
        assert [(e.payload.cause, e.event_id) for e in requeued] == [
            ("agent_revoked", f"{task.task_id}:agent_revoked:1")
        ]
    refused = await api.client.get(f"/tasks/{tasks[1].task_id}/account", headers=bearer(token))
    assert refused.status_code == 401
    again = await store.claim_next(pool, "agent-eve", [queue], 60, datetime.now(UTC))
    assert (again.task_id, again.attempts) == (tasks[0].task_id, 2)  # back in line by age


async def test_a_hang_up_does_not_cancel_a_call_answered_before(api) -> None:
    """Back in the queue after its agent let go, the call was answered already: the hang-up is no abandon (and
    its outcome is still to be recorded), while a call never answered is cancelled as before."""
    pool, queue, now = api.pool, unique("q"), datetime.now(UTC)
    answered, waiting = await routed(pool, queue, now - timedelta(seconds=9)), await routed(pool, queue, now)
    await store.claim_next(pool, "agent-fay", [queue], 3600, now)
    await store.accept(pool, answered.task_id, "agent-fay", now)
    await release(pool, answered.task_id, now)
    async with pool.acquire() as conn, conn.transaction():
        assert await cancel_for_call(conn, answered.call_id, now) is None
        assert (await cancel_for_call(conn, waiting.call_id, now)).state == "cancelled"
    assert (await store.get_task(pool, answered.task_id)).state == "queued"
    assert await task_events(pool, answered.task_id, "cancelled") == []
