"""End to end through the real broker, workers and PostgreSQL: a call becomes a task in the expected queue with
the expected priority; an agent claims it through the API, fails verification (the account stays masked),
passes it (the account is shown, card numbers cut to 4 digits), opens a dispute on an invoice line (emitted
once through the outbox), completes the task; the audit log holds exactly those steps. The lockout and one-time
codes: test_api_verification.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing.care.lifecycle import make_task_id
from billing.contracts import parse_event
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.identity.agent_store import create_agent, set_account_pin
from billing.identity.rules.roles import Role
from billing.platform.topics import DISPUTES
from tests.integration.agent_api_helpers import CARD, PIN, bearer, call_started, claim_until, customer, queue_counts
from tests.integration.helpers import eventually, unique

pytestmark = pytest.mark.integration


async def test_call_to_completed_task_through_the_api(agent_api) -> None:
    client, pool, live = agent_api["client"], agent_api["pool"], agent_api["live"]
    account, invoice_id, call_id = unique("acc"), unique("inv"), unique("call")
    now = datetime.now(UTC)
    await publish(live.require_bootstrap(), [record_of(e) for e in customer(account, invoice_id, now)])
    await eventually(
        lambda: pool.fetchval(
            "SELECT (SELECT count(*) FROM invoices_issued WHERE account_id = $1)"
            " + (SELECT coalesce(sum(events), 0) FROM cycle_usage WHERE account_id = $1)",
            account,
        ),
        lambda n: n == 3,
    )
    await set_account_pin(pool, account, PIN)
    await publish(live.require_bootstrap(), [record_of(call_started(account, call_id, invoice_id, now))])

    task_id = make_task_id("call", call_id)
    task = await eventually(lambda: pool.fetchrow("SELECT * FROM tasks WHERE task_id = $1", task_id), bool)
    # Rule "default" (a bill question, no dispute, average invoice 5,950 < 15,000): queue billing, base 10;
    # customer value band 5,000 -> +5; tenure 0 days -> 0; first call, nothing open -> 0. 10 + 5 = 15.
    assert (task["queue"], task["rule"], task["static_priority"], task["tier"]) == ("billing", "default", 15, 1)

    agent, token = await create_agent(pool, "Ana", Role.AGENT)
    claimed = await claim_until(client, token, task_id)
    assert (claimed["state"], claimed["holder_agent_id"], claimed["call_id"]) == ("reserved", agent.agent_id, call_id)
    assert (await client.post(f"/tasks/{task_id}/accept", headers=bearer(token))).json()["task"]["state"] == "accepted"

    masked = (await client.get(f"/tasks/{task_id}/account", headers=bearer(token))).json()["account"]
    assert (masked["verified"], masked["name"], masked["contact"]["phone"]) == (False, "E*** M***", "***78")
    assert masked["invoices"] is None and "Erika" not in str(masked)

    failed = await client.post(f"/calls/{call_id}/verify", headers=bearer(token), json={"pin": "0000"})
    assert failed.json()["verified"] is False and failed.json()["failures_left"] == 4
    still = (await client.get(f"/tasks/{task_id}/account", headers=bearer(token))).json()["account"]
    assert still["verified"] is False and still["invoices"] is None

    passed = await client.post(f"/calls/{call_id}/verify", headers=bearer(token), json={"pin": PIN})
    assert passed.json()["verified"] is True
    shown = (await client.get(f"/tasks/{task_id}/account", headers=bearer(token))).json()["account"]
    assert (shown["name"], shown["contact"]["email"]) == ("Erika Mustermann", "erika@example.com")
    (invoice,) = shown["invoices"]
    assert (invoice["invoice_id"], invoice["total_minor"]) == (invoice_id, 5950)
    lines = {line["line_id"]: line for line in invoice["lines"]}
    assert lines["roam"]["description"] == "Roaming, card **** **** **** 1111"
    assert shown["usage"]["services"] == {"sms": {"billable_units": 2, "events": 2}}
    assert CARD not in str(shown)

    dispute = {"invoice_id": invoice_id, "line_id": "roam", "reason": "roaming", "note": "never left Germany"}
    opened = await client.post(f"/tasks/{task_id}/disputes", headers=bearer(token), json=dispute)
    assert opened.status_code == 201 and opened.json()["amount_minor"] == 800  # the whole line by default
    again = await client.post(f"/tasks/{task_id}/disputes", headers=bearer(token), json=dispute)
    assert again.status_code == 200 and again.json() == {**opened.json(), "created": False}
    dispute_id = opened.json()["dispute_id"]
    emitted = await pool.fetch(
        "SELECT value FROM outbox WHERE topic = $1 AND convert_from(value, 'UTF8') LIKE $2",
        DISPUTES.name,
        f"%{dispute_id}%",
    )
    assert len(emitted) == 1 and parse_event(bytes(emitted[0]["value"])).payload.amount.amount_minor == 800
    await eventually(
        lambda: pool.fetchval("SELECT status FROM disputes WHERE dispute_id = $1", dispute_id),
        lambda status: status is not None,
    )

    assert (await client.post(f"/tasks/{task_id}/wrap-up", headers=bearer(token))).status_code == 200
    done = await client.post(
        f"/tasks/{task_id}/complete",
        headers=bearer(token),
        json={"outcome": "resolved", "practice": "explanation_only"},
    )
    assert (done.json()["task"]["state"], done.json()["task"]["outcome"]) == ("completed", "resolved")
    after = await client.get(f"/tasks/{task_id}/account", headers=bearer(token))
    assert (after.status_code, after.json()["error"]) == (409, "conflict")  # access ends with the task

    audit = await pool.fetch(
        "SELECT action, status, result, account_id FROM audit_log WHERE agent_id = $1"
        " AND task_id = $2 ORDER BY audit_id",
        agent.agent_id,
        task_id,
    )
    assert [(r["action"], r["status"], r["result"]) for r in audit] == [
        ("tasks.claim", 200, "ok"),
        ("tasks.accept", 200, "ok"),
        ("accounts.view", 200, "masked"),
        ("calls.verify", 200, "verification_failed"),
        ("accounts.view", 200, "masked"),
        ("calls.verify", 200, "verified"),
        ("accounts.view", 200, "shown"),
        ("accounts.open_dispute", 201, "ok"),
        ("accounts.open_dispute", 200, "ok"),
        ("tasks.wrap_up", 200, "ok"),
        ("tasks.complete", 200, "ok"),
        ("accounts.view", 409, "conflict"),
    ]
    assert {r["account_id"] for r in audit} == {account}

    # The service metrics saw the same thing. Other tests answer billing tasks too, and the metrics agent counts
    # them some time after they happen, so compare with every accepted and completed event the store emitted for
    # billing (ours among them): each counted exactly once.
    emitted = await billing_task_events(pool)
    assert {(task_id, "task.accepted.v1"), (task_id, "task.completed.v1")} <= {(t, kind) for _, t, kind in emitted}
    expected = {kind: sum(1 for *_, t in emitted if t == f"task.{kind}.v1") for kind in ("accepted", "completed")}
    await eventually(
        lambda: queue_counts(live, "billing"),
        lambda c: (c["answered"], c["completed"]) == (expected["accepted"], expected["completed"]),
    )
    exposition = (await client.get("/metrics")).text
    assert 'billing_api_verifications_total{method="pin",result="failed"} 1.0' in exposition
    assert 'billing_api_verifications_total{method="pin",result="passed"} 1.0' in exposition


async def billing_task_events(pool) -> list[tuple[str, str, str]]:
    """(event id, task id, type) of every answer (a task's first acceptance: one that went back to the queue and
    was accepted again is answered_before, not a second answer) and every completion the store wrote for
    billing, once each."""
    rows = await pool.fetch(
        "SELECT DISTINCT e->>'event_id' AS id, e->'payload'->>'task_id' AS task_id, e->>'type' AS type"
        " FROM (SELECT convert_from(value, 'UTF8')::jsonb AS e FROM outbox) AS o"
        " WHERE e->>'type' IN ('task.accepted.v1', 'task.completed.v1') AND e->'payload'->>'queue' = 'billing'"
        " AND coalesce((e->'payload'->>'answered_before')::boolean, false) = false"
    )
    return [(r["id"], r["task_id"], r["type"]) for r in rows]
