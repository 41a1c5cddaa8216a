"""What agents do with tasks, on PostgreSQL: claim the next one with a lease, accept, reject, wrap up, complete.

Each call is one transaction. A claim takes the highest-priority, then oldest, waiting task that any of the
agent's queues may take, with `FOR UPDATE SKIP LOCKED`, so concurrent claimers never get the same task and never
wait for each other. Every other transition locks the row, checks the move with the pure core
(src/billing/care/rules/task_states.py) and writes the row and its task event (outbox) together.

The state half of the ACCESS RULE lives here too: an agent holds a task for an account while it is reserved,
accepted or wrapping for it (`holds_account`); the agent API also ends a hold when its time runs out
(src/billing/entrypoints/api/access.py, with the pure `hold_lapsed_at`), whether or not the sweeper has ended it yet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from billing.accounts.facts import billing_currency
from billing.care import events
from billing.care.rules import task_states
from billing.care.rules.queue_model import (
    HELD_STATES,
    OPEN_STATES,
    QueueOverview,
    QueueTask,
    TaskConflict,
    TaskNotFound,
)
from billing.care.rules.task_states import TaskTransitionError
from billing.contracts.tasks import HoldoutArm, Practice, RequeueCause, SystemOutcome, TaskKind, TaskOutcome
from billing.platform.unit_of_work import Database, one_row, unit_of_work
from billing.retention.rules.arms import assign_arm

# Tasks that are not a customer's contact (an invoice held for review, a discount waiting for approval) are
# outside the retention experiment.
_NOT_IN_EXPERIMENT = frozenset({TaskKind.HELD_INVOICE, TaskKind.DISCOUNT_APPROVAL})

Pool = Database  # a pool, or the caller's connection (inside its transaction)


async def claim_next(pool: Pool, agent_id: str, queues: Sequence[str], lease_s: int, now: datetime) -> QueueTask | None:
    """Reserve the best waiting task for `agent_id` until now + lease_s; None when no queue has work."""
    if lease_s <= 0:
        raise ValueError(f"lease_s must be positive, got {lease_s}")
    if not agent_id:
        raise ValueError("agent_id must not be empty")
    if not queues:
        return None
    row = await pool.fetchrow(
        "WITH next AS (SELECT task_id FROM tasks WHERE state = 'queued' AND eligible_queues && $2::text[]"
        " ORDER BY priority DESC, routed_at, task_id LIMIT 1 FOR UPDATE SKIP LOCKED)"
        " UPDATE tasks t SET state = 'reserved', holder_agent_id = $1, lease_expires_at = $3, claimed_at = $4,"
        " attempts = t.attempts + 1 FROM next WHERE t.task_id = next.task_id RETURNING t.*",
        agent_id,
        list(queues),
        now + timedelta(seconds=lease_s),
        now,
    )
    return QueueTask.from_row(row) if row else None


async def accept(pool: Pool, task_id: str, agent_id: str, now: datetime) -> QueueTask:
    async def apply(conn: asyncpg.Connection, task: QueueTask) -> QueueTask:
        check_move(lambda: task_states.accept(task.as_core(), agent_id, now))
        new = await update_row(
            conn,
            task_id,
            "state = 'accepted', lease_expires_at = NULL, accepted_at = $2,"
            " first_accepted_at = coalesce(first_accepted_at, $2)",
            now,
        )
        await events.emit(conn, events.accepted(new, now, answered_before=task.first_accepted_at is not None))
        return new

    return await transition(pool, task_id, apply)


async def reject(pool: Pool, task_id: str, agent_id: str, now: datetime) -> QueueTask:
    """The agent declines the offer: the task goes back to its queue, keeping its age."""

    async def apply(conn: asyncpg.Connection, task: QueueTask) -> QueueTask:
        check_move(lambda: task_states.reject(task.as_core(), agent_id, now))
        new = await update_row(
            conn,
            task_id,
            "state = 'queued', holder_agent_id = NULL, lease_expires_at = NULL, offers_rejected = offers_rejected + 1",
        )
        # The event id carries the attempt of the offer being released (the task row's attempts).
        await events.emit(conn, events.requeued(new, RequeueCause.REJECTED, now))
        return new

    return await transition(pool, task_id, apply)


async def wrap_up(pool: Pool, task_id: str, agent_id: str, now: datetime) -> QueueTask:
    async def apply(conn: asyncpg.Connection, task: QueueTask) -> QueueTask:
        check_move(lambda: task_states.wrap_up(task.as_core(), agent_id, now))
        return await update_row(conn, task_id, "state = 'wrapping', wrapping_at = $2", now)

    return await transition(pool, task_id, apply)


async def complete(
    pool: Pool,
    task_id: str,
    agent_id: str,
    outcome: str,
    practice: str,
    discount_minor: int,
    now: datetime,
    *,
    agent_tier: int | None = None,
    holdout_share_bp: int = 1000,
) -> QueueTask:
    """Close the task with the agent's outcome and what was done; emits task.completed.v1.

    `agent_tier` defaults to the task's tier; `holdout_share_bp` is the retention holdout share in basis points (used only for a task routed before
    arms were drawn at routing).
    Bad values (unknown outcome or practice, negative discount) raise ValueError.
    """
    outcome_value, practice_value = TaskOutcome(outcome), Practice(practice)
    if isinstance(discount_minor, bool) or not isinstance(discount_minor, int) or discount_minor < 0:
        raise ValueError(f"discount_minor must be a non-negative integer of minor units, got {discount_minor!r}")

    async def apply(conn: asyncpg.Connection, task: QueueTask) -> QueueTask:
        if task.holder_agent_id != agent_id:
            raise TaskConflict(f"task {task_id} is {task.state} for agent {task.holder_agent_id!r}, not {agent_id!r}")
        check_move(lambda: task_states.complete(task.as_core(), outcome_value.value, now))
        tier = agent_tier if agent_tier is not None else task.tier
        # What the agent did on the task (record_practice) is the practice, whatever is typed at completion.
        done = Practice(task.practice) if task.practice else practice_value
        closing = Closing(outcome_value, done, discount_minor, _arm_of(task, holdout_share_bp), tier)
        return await write_completion(conn, task, closing, now)

    return await transition(pool, task_id, apply)


async def record_practice(conn: asyncpg.Connection, task_id: str, agent_id: str | None, practice: Practice) -> bool:
    """Record on a task the agent holds what was done for the customer (a plan change), in the caller's
    transaction; the completion keeps it. False when the agent does not hold the task. ``agent_id`` None: whoever
    holds it, or none while it waits in its queue again (a plan change approved for the case by a second person).
    A completed task keeps what its completion recorded (its task.completed.v1 has told the retention statistics)."""
    updated = await conn.fetchval(
        "UPDATE tasks SET practice = $3 WHERE task_id = $1 AND ($2::text IS NULL OR holder_agent_id = $2)"
        " AND state = ANY($4::text[]) RETURNING true",
        task_id,
        agent_id,
        practice.value,
        list(HELD_STATES if agent_id is not None else OPEN_STATES),
    )
    return bool(updated)


@dataclass(frozen=True)
class Closing:
    """What a completion records besides its time."""

    outcome: TaskOutcome | SystemOutcome
    practice: Practice
    discount_minor: int
    arm: HoldoutArm
    agent_tier: int


async def write_completion(conn: asyncpg.Connection, task: QueueTask, closing: Closing, now: datetime) -> QueueTask:
    """Write a checked completion and its task.completed.v1 (the caller holds the row lock)."""
    currency = await _currency_of(conn, task)
    new = await update_row(
        conn,
        task.task_id,
        "state = 'completed', lease_expires_at = NULL, completed_at = $2, outcome = $3,"
        " practice = $4, discount_minor = $5, arm = $6, agent_tier = $7, currency = $8",
        now,
        closing.outcome.value,
        closing.practice.value,
        closing.discount_minor,
        closing.arm.value,
        closing.agent_tier,
        currency,
    )
    await events.emit(conn, events.completed(new, closing.agent_tier, currency, now))
    return new


async def get_task(pool: Pool, task_id: str) -> QueueTask:
    row = await pool.fetchrow("SELECT * FROM tasks WHERE task_id = $1", task_id)
    if row is None:
        raise TaskNotFound(f"no task {task_id!r}")
    return QueueTask.from_row(row)


async def tasks_held_by(pool: Pool, agent_id: str, account_id: str | None = None) -> list[QueueTask]:
    """Tasks the agent holds now (reserved, accepted or wrapping), optionally for one account, oldest first."""
    rows = await pool.fetch(
        "SELECT * FROM tasks WHERE holder_agent_id = $1 AND state = ANY($2::text[])"
        " AND ($3::text IS NULL OR account_id = $3) ORDER BY claimed_at, task_id",
        agent_id,
        list(HELD_STATES),
        account_id,
    )
    return [QueueTask.from_row(row) for row in rows]


async def holds_account(pool: Pool, agent_id: str, account_id: str) -> bool:
    """The ACCESS RULE: true only while the agent holds a task for that account (reserved, accepted, wrapping)."""
    return bool(
        await pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM tasks WHERE holder_agent_id = $1 AND account_id = $2"
            " AND state = ANY($3::text[]))",
            agent_id,
            account_id,
            list(HELD_STATES),
        )
    )


async def queue_overview(pool: Pool, now: datetime, queues: Iterable[str] = ()) -> list[QueueOverview]:
    """Per queue: tasks waiting, the oldest wait in seconds, reserved, and being worked (accepted or wrapping).

    Queues named in `queues` are listed even when empty. A task counts in its own queue (not in widened pools).
    """
    rows = await pool.fetch(
        "SELECT queue, count(*) FILTER (WHERE state = 'queued') AS waiting,"
        " min(routed_at) FILTER (WHERE state = 'queued') AS oldest,"
        " count(*) FILTER (WHERE state = 'reserved') AS reserved,"
        " count(*) FILTER (WHERE state IN ('accepted', 'wrapping')) AS accepted"
        " FROM tasks WHERE state IN ('queued', 'reserved', 'accepted', 'wrapping') GROUP BY queue"
    )
    by_queue = {
        r["queue"]: QueueOverview(
            queue=r["queue"],
            waiting=r["waiting"],
            reserved=r["reserved"],
            accepted=r["accepted"],
            oldest_wait_s=max(0.0, (now - r["oldest"]).total_seconds()) if r["oldest"] else None,
        )
        for r in rows
    }
    for queue in queues:
        by_queue.setdefault(queue, QueueOverview(queue, 0, None, 0, 0))
    return [by_queue[name] for name in sorted(by_queue)]


Apply = Callable[[asyncpg.Connection, QueueTask], Awaitable[QueueTask]]


async def transition(pool: Pool, task_id: str, apply: Apply) -> QueueTask:
    """Run `apply` on the task's row, locked, in one transaction."""
    async with unit_of_work(pool) as conn:
        row = await conn.fetchrow("SELECT * FROM tasks WHERE task_id = $1 FOR UPDATE", task_id)
        if row is None:
            raise TaskNotFound(f"no task {task_id!r}")
        return await apply(conn, QueueTask.from_row(row))


async def update_row(conn: asyncpg.Connection, task_id: str, assignments: str, *args: object) -> QueueTask:
    """Update one task row and return it. `assignments` is code, never input; $1 is the task id, $2.. are `args`."""
    # The caller holds the row (locked by `transition`), so the update returns it.
    row = await one_row(conn, f"UPDATE tasks SET {assignments} WHERE task_id = $1 RETURNING *", task_id, *args)
    return QueueTask.from_row(row)


def check_move(move: Callable[[], object]) -> None:
    """Run a pure transition as a check: its refusal becomes TaskConflict (HTTP 409)."""
    try:
        move()
    except TaskTransitionError as refused:
        raise TaskConflict(str(refused)) from refused


async def _currency_of(conn: asyncpg.Connection, task: QueueTask) -> str:
    currency = await billing_currency(conn, task.account_id)
    currency = (currency or task.currency or "").strip()
    if not currency:
        raise TaskConflict(f"account {task.account_id} of task {task.task_id} has no known currency")
    return currency


def _arm_of(task: QueueTask, holdout_share_bp: int) -> HoldoutArm:
    """The arm drawn when the task was routed (fixed for the account in its period, whatever the share is now);
    drawn now only for a task routed before arms were recorded at routing."""
    if TaskKind(task.kind) in _NOT_IN_EXPERIMENT:
        return HoldoutArm.NOT_ELIGIBLE
    if task.arm is not None:
        return HoldoutArm(task.arm)
    return HoldoutArm(assign_arm(task.account_id, holdout_share_bp).value)
