"""The agent API in process on a stack, with one person per role, and call tasks held by an agent with the caller
verified: shared by the money tests (discounts, disputes, the money authority)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from billing.care import store
from billing.care.lifecycle import NewTask, insert_task, make_task_id
from billing.entrypoints.api.app import create_app
from billing.identity import verification
from billing.identity.agent_store import create_agent, set_account_pin
from billing.identity.rules.lockout import LockoutPolicy
from billing.identity.rules.roles import Role
from billing.platform.context import create_pool
from tests.integration.discounts_helpers import POLICY
from tests.integration.helpers import unique

CALLER_PIN = "5307"


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


async def hold_task(pool, agent_id: str, task_id: str, queue: str) -> None:
    """Claim from ``queue`` until this task is ours (others' tasks stay reserved until their lease ends)."""
    now = datetime.now(UTC)
    for _ in range(50):
        claimed = await store.claim_next(pool, agent_id, [queue], 60, now)
        assert claimed is not None, f"task {task_id} never offered"
        if claimed.task_id == task_id:
            await store.accept(pool, task_id, agent_id, now)
            return
    raise AssertionError(f"task {task_id} never offered")


async def held_call_task(pool, account: str, agent_id: str, verified: bool = True) -> str:
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
    await hold_task(pool, agent_id, task_id, queue)
    if verified:
        await verify_caller(pool, account, call_id, agent_id)
    return task_id


async def verify_caller(pool, account: str, call_id: str, agent_id: str) -> None:
    """The caller gives the right PIN on this call: the verification POST /calls/{id}/verify runs (not audited
    here, so the audit trails these tests assert hold only the money steps)."""
    await set_account_pin(pool, account, CALLER_PIN)
    attempt = verification.Attempt(call_id, account, agent_id, verification.Method.PIN, CALLER_PIN)
    verdict = await verification.verify(pool, attempt, LockoutPolicy(), datetime.now(UTC))
    assert verdict.result == "passed", verdict


def auth_headers(token: str, key: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **({"Idempotency-Key": key} if key else {})}
