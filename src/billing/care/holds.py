"""Holds that end without their agent, on PostgreSQL: a supervisor releases or reassigns a task, revoking an
agent returns its tasks, and the sweeper ends holds whose time limit ran out (TASK_HANDLE_TIMEOUT_S,
TASK_WRAP_UP_TIMEOUT_S).

Each move is checked with the pure core (src/billing/care/rules/task_states.py) on the locked row and writes the row and
its task event (outbox) in the same transaction. The sweeper takes its rows with `FOR UPDATE SKIP LOCKED` and
re-checks each with the core, so two workers sweeping at once never move a task twice, and a task its agent is
completing at that moment is either completed or timed out, never both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from billing.care import events
from billing.care.rules import task_states
from billing.care.rules.queue_model import HELD_STATES, QueueTask, TaskConflict
from billing.care.rules.task_states import HoldLimits, ReleaseReason, TaskState
from billing.care.store import Closing, Pool, check_move, transition, update_row, write_completion
from billing.contracts.tasks import HoldoutArm, Practice, RequeueCause, SystemOutcome
from billing.platform.unit_of_work import Database, unit_of_work

_BATCH = 1000


async def release(pool: Pool, task_id: str, now: datetime) -> QueueTask:
    """A supervisor hands a held task back to its queue (it keeps its age)."""

    async def apply(conn: asyncpg.Connection, task: QueueTask) -> QueueTask:
        check_move(lambda: task_states.release(task.as_core(), ReleaseReason.RELEASED, now))
        return await _back_to_queue(conn, task, RequeueCause.RELEASED, now)

    return await transition(pool, task_id, apply)


async def reassign(
    pool: Pool, task_id: str, agent_id: str, agent_queues: Sequence[str], lease_s: int, now: datetime
) -> QueueTask:
    """A supervisor offers an open task to `agent_id`, who may claim from `agent_queues`: an offer like a claim's
    (accept within `lease_s`), taken from its current holder if it has one."""

    async def apply(conn: asyncpg.Connection, task: QueueTask) -> QueueTask:
        check_move(lambda: task_states.reassign(task.as_core(), agent_id, now, lease_s))
        if not set(task.eligible_queues) & set(agent_queues):
            raise TaskConflict(
                f"agent {agent_id} does not serve the queues of task {task_id} ({', '.join(task.eligible_queues)})"
            )
        if task.state != TaskState.QUEUED:
            await _back_to_queue(conn, task, RequeueCause.REASSIGNED, now)
        return await update_row(
            conn,
            task_id,
            "state = 'reserved', holder_agent_id = $2, lease_expires_at = $3, claimed_at = $4, attempts = attempts + 1",
            agent_id,
            now + timedelta(seconds=lease_s),
            now,
        )

    return await transition(pool, task_id, apply)


async def release_held_by(conn: asyncpg.Connection, agent_id: str, now: datetime) -> list[QueueTask]:
    """Every task `agent_id` holds goes back to its queue, in the caller's transaction (the agent's revocation)."""
    rows = await conn.fetch(
        "SELECT * FROM tasks WHERE holder_agent_id = $1 AND state = ANY($2::text[]) ORDER BY task_id FOR UPDATE",
        agent_id,
        list(HELD_STATES),
    )
    released = []
    for row in rows:
        task = QueueTask.from_row(row)
        check_move(lambda: task_states.release(task.as_core(), ReleaseReason.AGENT_REVOKED, now))  # noqa: B023 - called at once
        released.append(await _back_to_queue(conn, task, RequeueCause.AGENT_REVOKED, now))
    return released


@dataclass(frozen=True)
class TimedOut:
    requeued: list[QueueTask]  # accepted past the handling limit: back to the queue
    completed: list[QueueTask]  # wrapping past the wrap-up limit: completed as wrap_up_timed_out


async def time_out_holds(db: Database, now: datetime, limits: HoldLimits, batch: int = _BATCH) -> TimedOut:
    """End the holds whose handling or wrap-up limit ran out by `now`, oldest first, `batch` of each at a time."""
    requeued, completed = [], []
    async with unit_of_work(db) as conn:
        for state, since, limit_s in (
            ("accepted", "accepted_at", limits.handle_s),
            ("wrapping", "wrapping_at", limits.wrap_up_s),
        ):
            rows = await conn.fetch(
                f"SELECT * FROM tasks WHERE state = '{state}' AND {since} <= $1 ORDER BY {since} LIMIT $2"
                " FOR UPDATE SKIP LOCKED",
                now - timedelta(seconds=limit_s),
                batch,
            )
            for task in map(QueueTask.from_row, rows):
                after = task_states.time_out_if_due(task.as_core(), now, limits)
                if after.state is TaskState.QUEUED:
                    requeued.append(await _back_to_queue(conn, task, RequeueCause.HANDLE_TIMED_OUT, now))
                elif after.state is TaskState.COMPLETED and after.completed_at is not None:  # noqa: SIM102 - see below
                    # Completed at the moment its limit ran out (the core's time), not when this sweep came by.
                    if closed := await _close_timed_out(conn, task, after.completed_at):
                        completed.append(closed)
    return TimedOut(requeued, completed)


async def _back_to_queue(conn: asyncpg.Connection, task: QueueTask, cause: RequeueCause, now: datetime) -> QueueTask:
    # The event id carries the attempt of the hold being ended (the row's attempts), so each hold ends once.
    new = await update_row(conn, task.task_id, "state = 'queued', holder_agent_id = NULL, lease_expires_at = NULL")
    await events.emit(conn, events.requeued(new, cause, now))
    return new


# Nobody recorded what was done: the case is kept out of the retention comparison (not_eligible) rather than
# counted under a practice that may not be what happened.
_TIMED_OUT = (SystemOutcome.WRAP_UP_TIMED_OUT, Practice.NONE, 0, HoldoutArm.NOT_ELIGIBLE)


async def _close_timed_out(conn: asyncpg.Connection, task: QueueTask, at: datetime) -> QueueTask | None:
    try:
        return await write_completion(conn, task, Closing(*_TIMED_OUT, agent_tier=task.tier), at)
    except TaskConflict:
        # No currency is known for its account, so no completion event can be written; the task stays in
        # wrap-up (out of reach: the access rule sees its limit ran out) until its account is known.
        return None
