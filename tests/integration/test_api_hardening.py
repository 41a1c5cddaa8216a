"""The agent API process the launcher started, attacked over real HTTP: what it reads before knowing who asks, how
much it reads, text and amounts the database cannot hold, a failure on our side (one-time codes and masking:
test_api_codes_and_masking.py).

Every answer here, refusals and the 500 included, must have its audit row (found by the X-Request-ID sent), and a
500 must leave the keep-alive connection usable.
"""

from __future__ import annotations

import json
import uuid

import pytest

from billing.identity.agent_store import create_agent
from billing.identity.rules.roles import Role
from tests.integration.agent_api_helpers import bearer, held_task
from tests.integration.helpers import unique

pytestmark = pytest.mark.integration


LIMIT = 64 * 1024  # API_MAX_BODY_BYTES, its default
BEYOND_INT64 = 2**63  # one more than PostgreSQL's bigint holds
BEYOND_MAXIMUM = 2**53  # one more than MAX_AMOUNT_MINOR (2**53 - 1)


def traced(token: str | None = None) -> tuple[str, dict[str, str]]:
    """A request id of our own, so the test finds the request's audit row."""
    request_id = uuid.uuid4().hex
    headers = {"X-Request-ID": request_id, "Content-Type": "application/json"}
    return request_id, {**headers, **(bearer(token) if token else {})}


async def audited(pool, request_id: str) -> tuple[int, str] | None:
    row = await pool.fetchrow("SELECT status, result FROM audit_log WHERE request_id = $1", request_id)
    return (row["status"], row["result"]) if row else None


async def chunks(body: bytes, size: int = 4096):
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_a_request_without_a_valid_token_answers_401_whatever_its_body(agent_api_over_http) -> None:
    client, pool = agent_api_over_http["client"], agent_api_over_http["pool"]
    bodies = {
        "malformed": b"{not json",
        "deeply nested": b"[" * 50_000,
        "too large": json.dumps({"note": "x" * (2 * LIMIT)}).encode(),
    }
    for what, body in bodies.items():
        for token in (None, "forged-token"):
            request_id, headers = traced(token)
            response = await client.post(f"/tasks/{unique('tsk')}/disputes", headers=headers, content=body)
            assert (response.status_code, response.json()["error"]) == (401, "unauthenticated"), what
            assert await audited(pool, request_id) == (401, "unauthenticated")
    request_id, headers = traced()
    streamed = await client.post("/tasks/claim", headers=headers, content=chunks(bodies["too large"]))
    assert streamed.status_code == 401
    row = await pool.fetchrow("SELECT action, agent_id FROM audit_log WHERE request_id = $1", request_id)
    assert (row["action"], row["agent_id"]) == ("tasks.claim", None)  # the route is named even before routing


async def test_a_body_over_the_limit_answers_413_counted_on_the_stream(agent_api_over_http) -> None:
    client, pool = agent_api_over_http["client"], agent_api_over_http["pool"]
    _, token = await create_agent(pool, unique("agent"), Role.AGENT)
    big = json.dumps({"outcome": "resolved", "practice": "none", "pad": " " * LIMIT}).encode()
    path = f"/tasks/{unique('tsk')}/complete"
    for what, content in (("with Content-Length", big), ("chunked", chunks(big))):
        request_id, headers = traced(token)
        response = await client.post(path, headers=headers, content=content)
        assert (response.status_code, response.json()["error"]) == (413, "body_too_large"), what
        assert await audited(pool, request_id) == (413, "body_too_large")
    # At the limit the body is read: this one is refused for what it says, not for its size.
    at_limit = json.dumps({"outcome": "resolved", "practice": "none", "pad": ""}).encode()
    at_limit = at_limit[:-1] + b" " * (LIMIT - len(at_limit)) + b"}"
    assert len(at_limit) == LIMIT
    response = await client.post(path, headers=traced(token)[1], content=at_limit)
    assert (response.status_code, response.json()["error"]) == (422, "malformed_request")


async def test_deeply_nested_json_answers_422(agent_api_over_http) -> None:
    client, pool = agent_api_over_http["client"], agent_api_over_http["pool"]
    _, token = await create_agent(pool, unique("agent"), Role.AGENT)
    for body in (b"[" * 20_000, b'{"criteria": ' * 5_000, b"[" * 5_000 + b"]" * 5_000):
        request_id, headers = traced(token)
        response = await client.post(f"/tasks/{unique('tsk')}/discounts", headers=headers, content=body)
        assert (response.status_code, response.json()["error"]) == (422, "malformed_request")
        assert await audited(pool, request_id) == (422, "malformed_request")


async def test_nul_bytes_and_lone_surrogates_answer_422_and_are_audited(agent_api_over_http) -> None:
    client, pool = agent_api_over_http["client"], agent_api_over_http["pool"]
    task_id, call_id, token = await held_task(pool, unique("acc"), verified=True)
    attempts = [
        ("POST", "/tasks/tsk-1%00x/accept", None),
        ("GET", "/tasks/tsk-%ED%A0%80/account", None),  # a UTF-8-encoded lone surrogate in the path
        ("POST", f"/calls/{call_id}%00/verify", b'{"pin": "1234"}'),
        ("POST", f"/tasks/{task_id}/refuse?reason=no%00pe", None),
        (
            "POST",
            f"/tasks/{task_id}/disputes",
            b'{"invoice_id": "i", "line_id": "l", "reason": "other", "note": "a\\u0000b"}',
        ),
        (
            "POST",
            f"/tasks/{task_id}/disputes",
            b'{"invoice_id": "i", "line_id": "l", "reason": "other", "note": "\\ud800"}',
        ),
        (
            "POST",
            f"/tasks/{task_id}/discounts",
            b'{"kind": "fixed", "amount_minor": 100, "reason_code": "goodwill", "criteria": ["loyal\\u0000"]}',
        ),
        ("POST", f"/tasks/{task_id}/disputes/dsp-1/resolve", b'{"outcome": "rejected", "reason": "\\udfff"}'),
    ]
    for method, path, body in attempts:
        request_id, headers = traced(token)
        response = await client.request(method, path, headers=headers, content=body)
        assert (response.status_code, response.json()["error"]) == (422, "malformed_request"), (path, response.text)
        assert await audited(pool, request_id) == (422, "malformed_request"), path
    _, supervisor = await create_agent(pool, unique("lead"), Role.SUPERVISOR)
    request_id, headers = traced(supervisor)
    response = await client.get("/audit?account=acc%00x", headers=headers)
    assert (response.status_code, response.json()["error"]) == (422, "malformed_request")
    assert await audited(pool, request_id) == (422, "malformed_request")
    still = await client.post(f"/tasks/{task_id}/accept", headers=bearer(token))
    assert still.status_code == 200  # nothing of the refused requests changed the task


async def test_amounts_beyond_the_documented_maximum_answer_422(agent_api_over_http) -> None:
    client, pool = agent_api_over_http["client"], agent_api_over_http["pool"]
    task_id, _, token = await held_task(pool, unique("acc"), verified=True)
    assert (await client.post(f"/tasks/{task_id}/accept", headers=bearer(token))).status_code == 200
    bodies = [
        ("complete", {"outcome": "resolved", "practice": "none", "discount_minor": BEYOND_INT64}),
        ("complete", {"outcome": "resolved", "practice": "none", "discount_minor": BEYOND_MAXIMUM}),
        ("disputes", {"invoice_id": "i", "line_id": "l", "reason": "other", "amount_minor": BEYOND_INT64}),
        ("discounts", {"kind": "fixed", "amount_minor": BEYOND_INT64, "reason_code": "goodwill", "criteria": ["x"]}),
        ("disputes/dsp-1/resolve", {"outcome": "credited", "credit_minor": BEYOND_MAXIMUM, "reason": "r"}),
    ]
    for route, body in bodies:
        request_id, headers = traced(token)
        response = await client.post(f"/tasks/{task_id}/{route}", headers=headers, json=body)
        assert (response.status_code, response.json()["error"]) == (422, "malformed_request"), (route, response.text)
        assert "less than or equal to 9007199254740991" in response.json()["message"]
        assert await audited(pool, request_id) == (422, "malformed_request")
    task = await pool.fetchrow("SELECT state, discount_minor FROM tasks WHERE task_id = $1", task_id)
    assert (task["state"], task["discount_minor"]) == ("accepted", None)  # no refusal changed it


async def test_a_failure_on_our_side_answers_500_is_audited_and_keeps_the_connection(agent_api_over_http) -> None:
    client, pool = agent_api_over_http["client"], agent_api_over_http["pool"]
    account = unique("acc")
    # A contact of record the code cannot read (a JSON string, not an object): sending a code to it fails.
    await pool.execute(
        "INSERT INTO accounts (account_id, plan_id, billing_anchor_day, currency, jurisdiction, contact, status,"
        " opened_at) VALUES ($1, 'mobile-s', 1, 'EUR', 'DE', $2, 'active', now())",
        account,
        "not an object",
    )
    _, call_id, token = await held_task(pool, account)
    request_id, headers = traced(token)
    failed = await client.post(f"/calls/{call_id}/otp", headers=headers, json={"channel": "sms"})
    assert failed.status_code == 500
    assert failed.json() == {"error": "internal_error", "message": "the request failed on our side; it was logged"}
    assert failed.headers.get("connection") != "close"
    first_socket = failed.extensions["network_stream"].get_extra_info("client_addr")
    assert await audited(pool, request_id) == (500, "internal_error")
    after = await client.get("/queues", headers=bearer(token))
    assert after.status_code == 200
    second_socket = after.extensions["network_stream"].get_extra_info("client_addr")
    assert second_socket == first_socket, "the connection was dropped"
