"""Every route of the agent API, generated from the app's own route table, refuses what it must with the right
4xx and no data: no token, a bad token, a role it does not admit, a task or call the agent does not hold, an
unknown id, a malformed body. Each refusal is in the audit log, which refuses to be edited.

The app runs in-process (httpx over ASGI) on the real PostgreSQL of the session stack; its agents claim from
queues of this module only, so tasks of other tests never reach them. One test talks to the API process the
launcher started, over real HTTP.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from billing.care.lifecycle import NewTask, insert_task, make_task_id
from billing.entrypoints.api.app import create_app
from billing.entrypoints.api.audit import UNAUDITED_PATHS
from billing.entrypoints.api.auth import PAGES, SIGNED_PATHS
from billing.identity.agent_store import create_agent, set_account_pin
from billing.identity.rules.roles import Role
from billing.platform.context import create_pool
from tests.integration.api_access_helpers import (
    action_routes,
    api_routes,
    assert_refused,
    bearer,
    every_route,
    fill,
    page_routes,
    send,
)
from tests.integration.helpers import unique
from tests.integration.task_holds_helpers import routed

pytestmark = pytest.mark.integration

QUEUE = unique("apiq")
PUBLIC_ROUTES = {("GET", "/health")}
MALFORMED_BODIES = [b"{not json", b"[]", b'{"unexpected": 1}']
PIN = "2468"
# Task routes that neither move money nor show account facts: the task's own life, and the account view, which
# shows only a masked card until the caller is verified (tests/integration/test_api_flow.py).
# Neither moves money nor shows account facts; reassign and release are a supervisor's moves of the task itself.
WITHOUT_VERIFICATION = {
    "tasks.accept",
    "tasks.reject",
    "tasks.wrap_up",
    "tasks.complete",
    "accounts.view",
    "tasks.reassign",
    "tasks.release",
}


def isolated(live):
    roles = f"agent={QUEUE};tier2={QUEUE};supervisor={QUEUE};analyst="
    # The owner's claim must outlast the module on a slow machine: the API refuses a lapsed lease by its clock.
    return live.model_copy(update={"agent_role_queues": roles, "agent_lease_s": 3600})


@pytest.fixture(scope="module")
async def world(live):
    """An app, its pool, four agents (owner, other, analyst, boss) and a task with a call held by the owner."""
    settings = isolated(live)
    app = create_app(settings)
    pool = await create_pool(settings)
    agents = {
        name: await create_agent(pool, name, role)
        for name, role in (
            ("owner", Role.AGENT),
            ("other", Role.AGENT),
            ("analyst", Role.ANALYST),
            ("boss", Role.SUPERVISOR),
        )
    }
    call_id, account_id = unique("call"), unique("acc")
    async with pool.acquire() as conn, conn.transaction():
        task = await insert_task(
            conn,
            NewTask(
                task_id=make_task_id("call", call_id),
                kind="call",
                source_event_id=unique("evt"),
                account_id=account_id,
                reason="bill_question",
                rule="default",
                queue=QUEUE,
                tier=1,
                static_priority=10,
                priority=10,
                routed_at=datetime.now(UTC) - timedelta(seconds=5),
                call_id=call_id,
                currency="EUR",
            ),
        )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    owner_token = agents["owner"][1]
    claimed = await client.post("/tasks/claim", headers=bearer(owner_token))
    assert claimed.status_code == 200 and claimed.json()["task"]["task_id"] == task.task_id
    # The caller gives the PIN, so the owner's requests reach the body checks of the money routes too.
    await set_account_pin(pool, account_id, PIN)
    verified = await client.post(f"/calls/{call_id}/verify", json={"pin": PIN}, headers=bearer(owner_token))
    assert verified.json()["verified"] is True, verified.text
    yield {"app": app, "pool": pool, "client": client, "agents": agents, "task": task}
    await client.aclose()
    await app.state.services.close()
    await pool.close()


def test_every_route_is_in_the_schema_and_declares_its_roles(world) -> None:
    app = world["app"]
    documented = {(m, p) for m, p, _ in action_routes(app)}
    pages = page_routes(app)  # the desk's HTML: their own test below; their actions are documented routes
    open_paths = UNAUDITED_PATHS | SIGNED_PATHS
    hidden = every_route(app) - documented - pages - {(m, p) for m, p in every_route(app) if p in open_paths}
    assert hidden == set(), "every action route is documented (so the tests below reach it)"
    assert {("GET", "/desk"), ("GET", "/wall"), ("POST", "/signin")} <= pages
    assert len(documented) >= 9
    for method, path, operation in action_routes(app):
        assert operation.get("x-roles"), f"{method} {path} declares no roles"
        assert operation.get("security"), f"{method} {path} is not behind the bearer token"


async def test_every_page_needs_a_session_and_the_wall_a_supervisor(world) -> None:
    """The desk's pages and parts: without credentials a page redirects to the sign-in form and anything else
    answers 401 (before the body is read); the wall's routes refuse a tier-1 agent."""
    client, (_, agent_token) = world["client"], world["agents"]["other"]
    checked = 0
    open_pages = {("GET", "/signin"), ("POST", "/signin")} | {
        (m, p) for m, p in every_route(world["app"]) if p in UNAUDITED_PATHS
    }
    for method, path in sorted(page_routes(world["app"]) - open_pages):
        url = path.replace("{action}", "claim").replace("{table}", "queues").replace("{decision}", "approve")
        for token in (None, "not-a-token"):
            response = await send(client, method, url, token=token)
            if method == "GET" and path in PAGES:
                assert (response.status_code, response.headers["location"]) == (303, "/signin"), url
            else:
                assert_refused(response, 401, "unauthenticated")
        if path.startswith("/wall"):
            assert_refused(await send(client, method, url, token=agent_token), 403, "forbidden_role")
        checked += 1
    assert checked >= 10


async def test_without_a_token_or_with_a_bad_one_every_route_answers_401(world) -> None:
    task = world["task"]
    for method, path, _ in action_routes(world["app"]):
        url = fill(path, task.task_id, task.call_id)
        assert_refused(await send(world["client"], method, url), 401, "unauthenticated")
        assert_refused(await send(world["client"], method, url, token="not-a-token"), 401, "unauthenticated")


async def test_a_role_a_route_does_not_admit_gets_403(world) -> None:
    task, tokens = world["task"], {name: token for name, (_, token) in world["agents"].items()}
    role_tokens = {"agent": tokens["other"], "analyst": tokens["analyst"]}
    tried = 0
    for method, path, operation in action_routes(world["app"]):
        for role, token in role_tokens.items():
            if role not in operation["x-roles"]:
                response = await send(world["client"], method, fill(path, task.task_id, task.call_id), token)
                assert_refused(response, 403, "forbidden_role")
                tried += 1
    assert tried >= 8, "the analyst is refused everything but the queue overview"


async def test_a_task_or_call_held_by_someone_else_gets_403_and_an_unknown_one_404(world) -> None:
    task, (_, other) = world["task"], world["agents"]["other"]
    bodies = {
        "/tasks/{task_id}/complete": b'{"outcome": "resolved", "practice": "none"}',
        "/calls/{call_id}/verify": b'{"pin": "1234"}',
        "/calls/{call_id}/otp": b'{"channel": "sms"}',
        "/tasks/{task_id}/disputes": b'{"invoice_id": "inv-1", "line_id": "l1", "reason": "other"}',
    }
    # The routes of the access rule: those agents use (a supervisor's release or reassignment holds no task).
    held = [(m, p) for m, p, op in action_routes(world["app"]) if "{" in p and "agent" in op["x-roles"]]
    assert len(held) >= 7
    for method, path in held:
        body = bodies.get(path, b"{}")
        mine = await send(world["client"], method, fill(path, task.task_id, task.call_id), other, body)
        assert_refused(mine, 403)
        assert mine.json()["error"] in ("not_your_task", "not_your_call")
        unknown = await send(world["client"], method, fill(path, unique("tsk"), unique("call")), other, body)
        assert_refused(unknown, 404, "not_found")


async def test_every_other_task_route_needs_the_caller_verified_on_the_call(world) -> None:
    """From the route table: a task route added later needs the verified caller unless it is listed above."""
    pool, client = world["pool"], world["client"]
    task = await routed(pool, QUEUE, datetime.now(UTC))
    _, token = await create_agent(pool, "unverified", Role.AGENT)
    assert (await client.post("/tasks/claim", headers=bearer(token))).json()["task"]["task_id"] == task.task_id
    guarded = [
        (method, route.path)
        for route in api_routes(world["app"].routes)
        if "{task_id}" in route.path and route.name not in WITHOUT_VERIFICATION
        for method in route.methods
    ]
    assert len(guarded) >= 6  # open a dispute, discount, approve, refuse, resolve, offer
    for method, path in guarded:
        url = fill(path, task.task_id, task.call_id).replace("{dispute_id}", unique("dsp"))
        response = await client.request(
            method,
            url,
            content=b"{}" if method != "GET" else None,
            headers={**bearer(token), "Idempotency-Key": unique("k"), "Content-Type": "application/json"},
        )
        assert_refused(response, 403, "caller_not_verified")


async def test_malformed_bodies_get_422_with_a_readable_message(world) -> None:
    task, (_, owner), (_, boss) = world["task"], world["agents"]["owner"], world["agents"]["boss"]
    with_body = [(m, p, op) for m, p, op in action_routes(world["app"]) if "requestBody" in op]
    assert {p for _, p, _ in with_body} >= {"/tasks/{task_id}/complete", "/calls/{call_id}/verify"}
    for method, path, operation in with_body:
        token = owner if "agent" in operation["x-roles"] else boss  # a role the route admits
        for body in MALFORMED_BODIES:
            response = await send(world["client"], method, fill(path, task.task_id, task.call_id), token, body)
            assert_refused(response, 422, "malformed_request")
    wrong = await send(
        world["client"],
        "POST",
        fill("/tasks/{task_id}/complete", task.task_id, ""),
        owner,
        b'{"outcome": "happy", "practice": "none"}',
    )
    assert "outcome" in wrong.json()["message"] and "resolved" in wrong.json()["message"]
    both = await send(
        world["client"], "POST", f"/calls/{task.call_id}/verify", owner, b'{"pin": "1234", "code": "123456"}'
    )
    assert_refused(both, 422, "malformed_request")
    assert "exactly one" in both.json()["message"]


async def test_refusals_are_audited_and_the_log_cannot_be_edited(world) -> None:
    pool, task = world["pool"], world["task"]
    (other_agent, other_token) = world["agents"]["other"]
    response = await send(world["client"], "GET", f"/tasks/{task.task_id}/account", other_token, body=None)
    request_id = response.headers["X-Request-ID"]
    row = await pool.fetchrow("SELECT * FROM audit_log WHERE request_id = $1", request_id)
    assert (row["agent_id"], row["action"], row["status"], row["result"]) == (
        other_agent.agent_id,
        "accounts.view",
        403,
        "not_your_task",
    )
    assert (row["task_id"], row["account_id"]) == (task.task_id, task.account_id)  # who tried to reach what
    anonymous = await send(world["client"], "POST", "/tasks/claim")
    row = await pool.fetchrow("SELECT * FROM audit_log WHERE request_id = $1", anonymous.headers["X-Request-ID"])
    assert (row["agent_id"], row["status"], row["result"]) == (None, 401, "unauthenticated")
    for statement in ("UPDATE audit_log SET result = 'ok'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await pool.execute(statement)


async def test_the_launchers_api_process_answers_over_http(live) -> None:
    base = f"http://{live.api_host}:{live.api_port}"
    async with httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/health")).json() == {"status": "ok", "checks": {"database": True}}
        assert_refused(await client.get("/queues"), 401, "unauthenticated")
        assert_refused(await client.post("/tasks/claim", headers=bearer("forged")), 401, "unauthenticated")
        schema = (await client.get("/openapi.json")).json()
        assert "/tasks/{task_id}/account" in schema["paths"]
        metrics = (await client.get("/metrics")).text
        assert 'billing_api_requests_total{action="tasks.claim",result="unauthenticated",status="401"}' in metrics
