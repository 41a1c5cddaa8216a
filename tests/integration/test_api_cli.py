"""`billing agent`, the reference agent tool, against the API process the launcher started: create an agent,
set a PIN, claim, accept, view (masked), verify (wrong, then right), view (shown), complete; errors are one
line on stderr with a non-zero exit code."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from billing.care.lifecycle import NewTask, insert_task, make_task_id
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.platform.context import create_pool
from tests.integration.agent_api_helpers import customer
from tests.integration.helpers import eventually, unique

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
# Far above anything routing gives (base at most 60 plus bounded terms), so the claim takes this task first.
TOP_PRIORITY = 900_000


def billing(live, *args: str, token: str | None = None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": live.require_database_url(),
        "API_URL": f"http://{live.api_host}:{live.api_port}",
    }
    env.pop("AGENT_TOKEN", None)
    if token:
        env["AGENT_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "billing.entrypoints.cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def test_the_agent_cli_works_a_call_through_the_api(live) -> None:
    account, call_id = unique("acc"), unique("call")
    pool = await create_pool(live)
    try:
        await publish(live.require_bootstrap(), [record_of(customer(account, unique("inv"), datetime.now(UTC))[0])])
        await eventually(
            lambda: pool.fetchval("SELECT count(*) FROM accounts WHERE account_id = $1", account), lambda n: n == 1
        )
        async with pool.acquire() as conn, conn.transaction():
            task = await insert_task(
                conn,
                NewTask(
                    task_id=make_task_id("call", call_id),
                    kind="call",
                    source_event_id=unique("evt"),
                    account_id=account,
                    reason="bill_question",
                    rule="default",
                    queue="billing",
                    tier=1,
                    static_priority=TOP_PRIORITY,
                    priority=TOP_PRIORITY,
                    routed_at=datetime.now(UTC),
                    call_id=call_id,
                    currency="EUR",
                ),
            )
    finally:
        await pool.close()

    created = await asyncio.to_thread(billing, live, "agent", "create", "--name", "Cli Agent", "--role", "agent")
    assert created.returncode == 0 and "shown only now" in created.stderr
    token = created.stdout.strip()
    assert (await asyncio.to_thread(billing, live, "agent", "set-pin", account, "--pin", "7319")).returncode == 0

    def run(*args: str) -> subprocess.CompletedProcess:
        return billing(live, "agent", *args, token=token)

    claimed = ok(await asyncio.to_thread(run, "claim"))["task"]
    assert (claimed["task_id"], claimed["call_id"]) == (task.task_id, call_id)
    assert ok(await asyncio.to_thread(run, "accept", task.task_id))["task"]["state"] == "accepted"
    masked = ok(await asyncio.to_thread(run, "view", task.task_id))["account"]
    assert (masked["verified"], masked["name"]) == (False, "E*** M***")
    assert ok(await asyncio.to_thread(run, "verify", call_id, "--pin", "0000"))["verified"] is False
    assert ok(await asyncio.to_thread(run, "verify", call_id, "--pin", "7319"))["verified"] is True
    shown = ok(await asyncio.to_thread(run, "view", task.task_id))["account"]
    assert (shown["verified"], shown["name"]) == (True, "Erika Mustermann")
    done = ok(await asyncio.to_thread(run, "complete", task.task_id, "--outcome", "resolved", "--practice", "none"))
    assert done["task"]["state"] == "completed"

    unknown = await asyncio.to_thread(run, "view", "tsk-nothing-here")
    assert unknown.returncode == 1 and "error 404 not_found" in unknown.stderr and unknown.stdout == ""
    tokenless = await asyncio.to_thread(billing, live, "agent", "claim")
    assert tokenless.returncode == 2 and "AGENT_TOKEN" in tokenless.stderr

    agent_id = claimed["holder_agent_id"]
    assert (await asyncio.to_thread(billing, live, "agent", "revoke", agent_id)).returncode == 0
    revoked = await asyncio.to_thread(run, "queues")
    assert revoked.returncode == 1 and "error 401 unauthenticated" in revoked.stderr
    assert (await asyncio.to_thread(billing, live, "agent", "revoke", "agt-nobody")).returncode == 1


async def test_the_agent_cli_sends_an_idempotency_key_with_every_money_command(live) -> None:
    """A goodwill credit note of 500 on the upstream invoice of 5,950 (within an agent's 2,500 under the default
    policy): sent twice with one key it is granted once; without a key the tool makes one and says which."""
    account, invoice_id, call_id = unique("acc"), unique("inv"), unique("call")
    pool = await create_pool(live)
    try:
        await publish(
            live.require_bootstrap(), [record_of(e) for e in customer(account, invoice_id, datetime.now(UTC))]
        )
        await eventually(
            lambda: pool.fetchval("SELECT count(*) FROM invoices_issued WHERE invoice_id = $1", invoice_id),
            lambda n: n == 1,
        )
        async with pool.acquire() as conn, conn.transaction():
            task = await insert_task(
                conn,
                NewTask(
                    task_id=make_task_id("call", call_id),
                    kind="call",
                    source_event_id=unique("evt"),
                    account_id=account,
                    reason="bill_question",
                    rule="default",
                    queue="billing",
                    tier=1,
                    static_priority=TOP_PRIORITY,
                    priority=TOP_PRIORITY,
                    routed_at=datetime.now(UTC),
                    call_id=call_id,
                    currency="EUR",
                ),
            )
        token = (
            await asyncio.to_thread(billing, live, "agent", "create", "--name", "Cli Money", "--role", "agent")
        ).stdout.strip()
        assert (await asyncio.to_thread(billing, live, "agent", "set-pin", account, "--pin", "7319")).returncode == 0

        def run(*args: str) -> subprocess.CompletedProcess:
            return billing(live, "agent", *args, token=token)

        assert ok(await asyncio.to_thread(run, "claim"))["task"]["task_id"] == task.task_id
        assert ok(await asyncio.to_thread(run, "accept", task.task_id))["task"]["state"] == "accepted"
        assert ok(await asyncio.to_thread(run, "verify", call_id, "--pin", "7319"))["verified"] is True
        credit = (
            "discount",
            task.task_id,
            "--kind",
            "credit_note",
            "--amount-minor",
            "500",
            "--invoice-id",
            invoice_id,
            "--reason-code",
            "billing_error",
            "--criterion",
            "charged twice",
        )
        first = ok(await asyncio.to_thread(run, *credit, "--idempotency-key", "cli-test-1"))
        again = ok(await asyncio.to_thread(run, *credit, "--idempotency-key", "cli-test-1"))
        assert first["status"] == "granted" and again == first
        assert await pool.fetchval("SELECT count(*) FROM credit_notes WHERE invoice_id = $1", invoice_id) == 1

        fresh = await asyncio.to_thread(run, *credit)
        assert fresh.returncode == 0, fresh.stderr
        key = fresh.stderr.split("Idempotency-Key: ")[1].split()[0]
        assert key.startswith("cli-") and f"--idempotency-key {key}" in fresh.stderr
        assert await pool.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = $1", key) == 1
        assert await pool.fetchval("SELECT count(*) FROM credit_notes WHERE invoice_id = $1", invoice_id) == 2
    finally:
        await pool.close()


async def test_a_supervisor_reassigns_and_releases_from_the_cli(live) -> None:
    pool = await create_pool(live)
    try:
        async with pool.acquire() as conn, conn.transaction():
            task = await insert_task(
                conn,
                NewTask(
                    task_id=make_task_id("call", unique("call")),
                    kind="call",
                    source_event_id=unique("evt"),
                    account_id=unique("acc"),
                    reason="bill_question",
                    rule="default",
                    queue="billing",
                    tier=1,
                    static_priority=0,
                    priority=0,
                    routed_at=datetime.now(UTC),
                    currency="EUR",
                ),
            )
    finally:
        await pool.close()
    agents = {}
    for role in ("supervisor", "agent"):
        created = await asyncio.to_thread(billing, live, "agent", "create", "--name", f"Cli {role}", "--role", role)
        agents[role] = (created.stderr.split()[1], created.stdout.strip())  # "agent agt-... (role) created; ..."

    def run(role: str, *args: str) -> subprocess.CompletedProcess:
        return billing(live, "agent", *args, token=agents[role][1])

    refused = await asyncio.to_thread(run, "agent", "release", task.task_id)
    assert refused.returncode == 1 and "error 403 forbidden_role" in refused.stderr
    offered = ok(await asyncio.to_thread(run, "supervisor", "reassign", task.task_id, agents["agent"][0]))["task"]
    assert (offered["state"], offered["holder_agent_id"]) == ("reserved", agents["agent"][0])
    assert ok(await asyncio.to_thread(run, "agent", "accept", task.task_id))["task"]["state"] == "accepted"
    back = ok(await asyncio.to_thread(run, "supervisor", "release", task.task_id))["task"]
    assert (back["state"], back["holder_agent_id"]) == ("queued", None)
    again = await asyncio.to_thread(run, "supervisor", "release", task.task_id)
    assert again.returncode == 1 and "error 409" in again.stderr
    # Leave nothing in the shared billing queue: offer it once more and close it.
    ok(await asyncio.to_thread(run, "supervisor", "reassign", task.task_id, agents["agent"][0]))
    ok(await asyncio.to_thread(run, "agent", "accept", task.task_id))
    done = ok(
        await asyncio.to_thread(run, "agent", "complete", task.task_id, "--outcome", "resolved", "--practice", "none")
    )
    assert done["task"]["state"] == "completed"
