"""The workers' queue sweeper on the real stack: it widens a task that waited too long (with its aging points and
the requeued events) and returns an expired lease to its queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from billing.care import store
from billing.care.lifecycle import NewTask, insert_task, make_task_id
from billing.entrypoints.stack.loadgen import publish, record_of
from tests.integration.helpers import eventually, unique
from tests.integration.queues_helpers import (
    account_opened,
    call_started,
    outbox_task_events,
    task_of,
)

pytestmark = pytest.mark.integration


async def test_the_sweeper_widens_a_task_that_waited_ten_minutes(live) -> None:
    dsn, bootstrap, now = live.require_database_url(), live.require_bootstrap(), datetime.now(UTC)
    account, call = unique("acc"), unique("call")
    await publish(
        bootstrap,
        [
            record_of(account_opened(account, now - timedelta(days=3))),
            record_of(call_started(account, call, now - timedelta(minutes=10))),
        ],
    )
    task = await eventually(lambda: task_of(dsn, "call", call), lambda t: len(t["eligible_queues"]) == 3)
    # Default widening of billing: tier2 after 120 s, supervisors after 300 s. Aging: 600 s // 15 = 40 = the cap,
    # so 10 (default rule, no other points) + 40 = 50; widened into a senior pool, it is tier-2 work.
    assert (task["eligible_queues"], task["priority"], task["tier"]) == (["billing", "tier2", "supervisors"], 50, 2)
    widened = [
        e.payload.new_queue for e in await outbox_task_events(dsn, task["task_id"]) if e.type == "task.requeued.v1"
    ]
    assert widened == ["tier2", "supervisors"]


async def test_the_sweeper_returns_an_expired_lease(live) -> None:
    dsn = live.require_database_url()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        queue, ref, now = unique("q"), unique("call"), datetime.now(UTC)
        await _insert(
            pool,
            NewTask(
                task_id=make_task_id("call", ref),
                kind="call",
                source_event_id=unique("evt"),
                account_id=unique("acc"),
                reason="other",
                rule="default",
                queue=queue,
                tier=1,
                static_priority=10,
                priority=10,
                routed_at=now,
                call_id=ref,
                currency="EUR",
            ),
        )
        claimed = await store.claim_next(pool, "agent-lease", [queue], 1, datetime.now(UTC))
        assert claimed.state == "reserved"
        back = await eventually(lambda: store.get_task(pool, claimed.task_id), lambda t: t.state == "queued")
        assert (back.holder_agent_id, back.offers_expired, back.attempts) == (None, 1, 1)
        requeued = [e for e in await outbox_task_events(dsn, claimed.task_id) if e.type == "task.requeued.v1"]
        assert [(e.payload.cause, e.event_id) for e in requeued] == [
            ("lease_expired", f"{claimed.task_id}:lease_expired:1")
        ]
        again = await store.claim_next(pool, "agent-next", [queue], 30, datetime.now(UTC))
        assert (again.task_id, again.attempts) == (claimed.task_id, 2)
    finally:
        await pool.close()


async def _insert(pool: asyncpg.Pool, new: NewTask) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await insert_task(conn, new)
