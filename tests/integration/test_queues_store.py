"""The queue store on the real PostgreSQL: claim order, the lease, accept/reject/wrap/complete with their task
events in the outbox, the access rule, the overview, and many concurrent claimers never sharing a task.

Each test works in queues of its own (unique names), so tasks of other tests never reach its claims.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from billing.care import store
from billing.care.config import load_care_config
from billing.care.lifecycle import NewTask, insert_task, make_task_id
from billing.care.rules.queue_model import TaskConflict, TaskNotFound
from billing.care.sweeper import refresh_waiting_tasks
from billing.contracts import parse_event
from billing.platform.settings import load_settings
from billing.platform.topics import TASK_EVENTS
from tests.integration.helpers import unique

pytestmark = pytest.mark.integration

# An hour ahead of the clock: the workers' sweeper (which uses the clock) sees these leases as running and these
# tasks as not yet waiting, so it neither releases, ages nor widens them while the tests drive time themselves.
T0 = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)


@pytest.fixture
async def pool(live):
    pool = await asyncpg.create_pool(live.require_database_url(), min_size=2, max_size=20)
    yield pool
    await pool.close()


async def _task(pool, queue: str, priority: int, routed_at: datetime, account: str | None = None):
    ref = unique("call")
    new = NewTask(
        task_id=make_task_id("call", ref),
        kind="call",
        source_event_id=unique("evt"),
        account_id=account or unique("acc"),
        reason="bill_question",
        rule="default",
        queue=queue,
        tier=1,
        static_priority=priority,
        priority=priority,
        routed_at=routed_at,
        call_id=ref,
        currency="EUR",
    )
    async with pool.acquire() as conn, conn.transaction():
        return await insert_task(conn, new)


async def _task_events(pool, task_id: str):
    rows = await pool.fetch(
        "SELECT value FROM outbox WHERE topic = $1 AND convert_from(value, 'UTF8') LIKE $2 ORDER BY id",
        TASK_EVENTS.name,
        f"%{task_id}%",
    )
    return [parse_event(bytes(r["value"])) for r in rows]


async def test_claims_take_highest_priority_then_oldest(pool) -> None:
    queue = unique("q")
    low_old = await _task(pool, queue, 10, T0)
    high_new = await _task(pool, queue, 30, T0 + timedelta(minutes=5))
    high_old = await _task(pool, queue, 30, T0 + timedelta(minutes=1))
    now = T0 + timedelta(minutes=10)
    order = [(await store.claim_next(pool, f"agent-{i}", [queue], 30, now)).task_id for i in range(3)]
    assert order == [high_old.task_id, high_new.task_id, low_old.task_id]
    assert await store.claim_next(pool, "agent-9", [queue], 30, now) is None
    assert await store.claim_next(pool, "agent-9", [unique("empty")], 30, now) is None


async def test_accept_wrap_complete_writes_the_events_with_waits(pool) -> None:
    queue = unique("q")
    task = await _task(pool, queue, 20, T0)
    claimed = await store.claim_next(pool, "agent-1", [queue], 30, T0 + timedelta(seconds=40))
    assert (claimed.task_id, claimed.state, claimed.attempts) == (task.task_id, "reserved", 1)
    assert claimed.lease_expires_at == T0 + timedelta(seconds=70)
    assert await store.holds_account(pool, "agent-1", task.account_id)
    assert not await store.holds_account(pool, "agent-2", task.account_id)

    await store.accept(pool, task.task_id, "agent-1", T0 + timedelta(seconds=41))
    await store.wrap_up(pool, task.task_id, "agent-1", T0 + timedelta(seconds=300))
    with pytest.raises(TaskConflict):
        await store.complete(pool, task.task_id, "agent-2", "resolved", "credit", 500, T0 + timedelta(seconds=310))
    done = await store.complete(pool, task.task_id, "agent-1", "resolved", "credit", 500, T0 + timedelta(seconds=311))
    assert (done.state, done.outcome, done.practice, done.discount_minor) == ("completed", "resolved", "credit", 500)
    assert not await store.holds_account(pool, "agent-1", task.account_id)

    routed, accepted, completed = await _task_events(pool, task.task_id)
    assert (routed.type, routed.event_id, routed.payload.priority) == ("task.routed.v1", f"{task.task_id}:routed", 20)
    # Waited from routing (T0) to accept (T0 + 41 s): 41,000 ms.
    assert (accepted.type, accepted.payload.agent_id, accepted.payload.waited_ms) == (
        "task.accepted.v1",
        "agent-1",
        41_000,
    )
    p = completed.payload
    # Handled from accept (T0 + 41 s) to completion (T0 + 311 s): 270 s = 270,000 ms.
    assert (p.waited_ms, p.handle_ms, p.discount_minor, p.currency) == (41_000, 270_000, 500, "EUR")
    assert (p.agent_id, p.agent_tier, p.kind, p.opened_at) == ("agent-1", 1, "call", T0)
    assert p.arm in ("treatment", "control")


async def test_reject_returns_the_task_and_only_the_holder_may_act(pool) -> None:
    queue = unique("q")
    task = await _task(pool, queue, 20, T0)
    await store.claim_next(pool, "agent-1", [queue], 30, T0)
    with pytest.raises(TaskConflict):
        await store.accept(pool, task.task_id, "agent-2", T0 + timedelta(seconds=1))
    back = await store.reject(pool, task.task_id, "agent-1", T0 + timedelta(seconds=2))
    assert (back.state, back.holder_agent_id, back.offers_rejected) == ("queued", None, 1)
    with pytest.raises(TaskConflict):
        await store.accept(pool, task.task_id, "agent-1", T0 + timedelta(seconds=3))
    again = await store.claim_next(pool, "agent-2", [queue], 30, T0 + timedelta(seconds=4))
    assert (again.task_id, again.holder_agent_id, again.attempts) == (task.task_id, "agent-2", 2)
    # The lease is lost once it has run out: accept at exactly the expiry is refused.
    with pytest.raises(TaskConflict):
        await store.accept(pool, task.task_id, "agent-2", T0 + timedelta(seconds=34))
    with pytest.raises(TaskNotFound):
        await store.accept(pool, "tsk-missing", "agent-2", T0)
    requeued = [e for e in await _task_events(pool, task.task_id) if e.type == "task.requeued.v1"]
    assert [(e.payload.cause, e.event_id) for e in requeued] == [("rejected", f"{task.task_id}:rejected:1")]


async def test_overview_counts_each_state_in_the_tasks_own_queue(pool) -> None:
    queue = unique("q")
    for minute in range(3):
        await _task(pool, queue, 10, T0 + timedelta(minutes=minute))
    first = await store.claim_next(pool, "agent-1", [queue], 30, T0 + timedelta(minutes=5))
    await store.claim_next(pool, "agent-2", [queue], 30, T0 + timedelta(minutes=5))
    await store.accept(pool, first.task_id, "agent-1", T0 + timedelta(minutes=5, seconds=1))
    overview = {o.queue: o for o in await store.queue_overview(pool, T0 + timedelta(minutes=10), [queue, "nobody"])}
    mine = overview[queue]
    # Left waiting: the task routed at T0 + 2 min, so at T0 + 10 min its wait is 480 s.
    assert (mine.waiting, mine.reserved, mine.accepted, mine.oldest_wait_s) == (1, 1, 1, 480.0)
    assert overview["nobody"].waiting == 0 and overview["nobody"].oldest_wait_s is None


async def test_replayed_routing_creates_no_second_task(pool) -> None:
    queue = unique("q")
    task = await _task(pool, queue, 10, T0)
    new = NewTask(
        task_id=task.task_id,
        kind="call",
        source_event_id=task.source_event_id,
        account_id=task.account_id,
        reason="bill_question",
        rule="default",
        queue=queue,
        tier=1,
        static_priority=10,
        priority=10,
        routed_at=T0,
        call_id=task.call_id,
        currency="EUR",
    )
    async with pool.acquire() as conn, conn.transaction():
        assert await insert_task(conn, new) is None
    assert await pool.fetchval("SELECT count(*) FROM tasks WHERE queue = $1", queue) == 1
    assert len(await _task_events(pool, task.task_id)) == 1


async def test_fifty_concurrent_claimers_take_two_hundred_tasks_exactly_once(pool) -> None:
    queue = unique("q")
    created = {(await _task(pool, queue, i % 7, T0 + timedelta(seconds=i))).task_id for i in range(200)}
    now = T0 + timedelta(hours=1)

    async def claimer(n: int) -> list[str]:
        taken: list[str] = []
        while (task := await store.claim_next(pool, f"agent-{n}", [queue], 60, now)) is not None:
            taken.append(task.task_id)
        return taken

    results = await asyncio.gather(*(claimer(n) for n in range(50)))
    claims = Counter(task_id for taken in results for task_id in taken)
    assert set(claims) == created
    assert set(claims.values()) == {1}
    holders = await pool.fetch("SELECT holder_agent_id, attempts, state FROM tasks WHERE queue = $1", queue)
    assert {(r["state"], r["attempts"]) for r in holders} == {("reserved", 1)}
    assert sum(len(taken) for taken in results) == 200
    assert sum(1 for taken in results if taken) > 1  # the claims really were spread over concurrent claimers


async def test_the_sweeper_ages_every_waiting_task_not_only_the_first_page(pool) -> None:
    """Five waiting tasks, read two at a time: all five are aged and widened (before, only the oldest page was)."""
    queue = unique("q")
    tasks = [await _task(pool, queue, 10, T0 + timedelta(seconds=i)) for i in range(5)]
    care = load_care_config(load_settings())
    changed, _ = await refresh_waiting_tasks(pool, care, T0 + timedelta(minutes=10), batch=2, queues=[queue])
    assert changed == 5
    rows = await pool.fetch(
        "SELECT priority, tier FROM tasks WHERE task_id = ANY($1::text[])", [t.task_id for t in tasks]
    )
    # Waits of 600, 599, 598, 597 and 596 s: aging 600 // 15 = 40 (the cap), the others 39, on base 10. A queue
    # of the test's own has no widening, so they stay tier 1.
    assert sorted((r["priority"], r["tier"]) for r in rows) == [(49, 1), (49, 1), (49, 1), (49, 1), (50, 1)]
