"""Tasks coming and going with the stream: created by routing, cancelled when the caller hangs up or the account
closes. Each function runs inside the caller's transaction (the projection's, with its idempotency key), so the
task row, the projection and the task event commit together.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime

import asyncpg

from billing.care import events
from billing.care.rules.queue_model import OPEN_STATES, QueueTask
from billing.contracts.tasks import CancelCause


def make_task_id(kind: str, source_ref: str) -> str:
    """Deterministic and short: the same call, dispute or invoice always gives the same task id."""
    digest = hashlib.sha256(f"{kind}\x1f{source_ref}".encode()).hexdigest()
    return f"tsk-{digest[:20]}"


@dataclass(frozen=True)
class NewTask:
    task_id: str
    kind: str
    source_event_id: str
    account_id: str
    reason: str
    rule: str
    queue: str
    tier: int
    static_priority: int
    priority: int
    routed_at: datetime
    call_id: str | None = None
    dispute_id: str | None = None
    invoice_id: str | None = None
    disputed_amount_minor: int | None = None
    currency: str | None = None
    arm: str | None = None  # the retention arm drawn at routing, in `period` (customer contacts only)
    period: str | None = None


_INSERT_COLUMNS = tuple(NewTask.__dataclass_fields__)


async def insert_task(conn: asyncpg.Connection, new: NewTask) -> QueueTask | None:
    """Create the task in its queue and emit task.routed.v1; None if this source event already made one."""
    values = asdict(new)
    placeholders = ", ".join(f"${i}" for i in range(1, len(_INSERT_COLUMNS) + 2))
    row = await conn.fetchrow(
        f"INSERT INTO tasks ({', '.join(_INSERT_COLUMNS)}, eligible_queues) VALUES ({placeholders})"
        " ON CONFLICT DO NOTHING RETURNING *",
        *(values[column] for column in _INSERT_COLUMNS),
        [new.queue],
    )
    if row is None:
        return None
    task = QueueTask.from_row(row)
    await events.emit(conn, events.routed(task), also_to_queue=task.queue)
    return task


async def cancel_for_call(conn: asyncpg.Connection, call_id: str, now: datetime) -> QueueTask | None:
    """The caller hung up: the call's waiting (or offered) task is removed. None if it had none open.

    A call already accepted by an agent is not cancelled: that hang-up is the agent's to record as an outcome.
    Nor is one answered before and back in the queue (its agent timed out or was released): the conversation
    took place, so its outcome is still to be recorded, and the caller did not abandon a wait.
    """
    rows = await _cancel(
        conn,
        "call_id = $1 AND state IN ('queued', 'reserved') AND first_accepted_at IS NULL",
        call_id,
        now,
        cause=CancelCause.CALLER_ABANDONED,
    )
    return rows[0] if rows else None


async def cancel_open_for_account(conn: asyncpg.Connection, account_id: str, now: datetime) -> list[QueueTask]:
    """The account closed: every task still open for it is cancelled (whoever holds it loses it)."""
    return await _cancel(
        conn,
        "account_id = $1 AND state = ANY($3::text[])",
        account_id,
        now,
        cause=CancelCause.ACCOUNT_CLOSED,
        states=list(OPEN_STATES),
    )


async def _cancel(
    conn: asyncpg.Connection,
    where: str,
    ref: str,
    now: datetime,
    *,
    cause: CancelCause,
    states: list[str] | None = None,
) -> list[QueueTask]:
    # `where` is code, never input. $2 is the time, $3 (optional) the states.
    args: list[object] = [ref, now] + ([states] if states is not None else [])
    rows = await conn.fetch(
        "UPDATE tasks SET state = 'cancelled', holder_agent_id = NULL, lease_expires_at = NULL,"
        f" cancelled_at = $2, cancel_cause = '{cause.value}' WHERE {where} RETURNING *",
        *args,
    )
    cancelled = [QueueTask.from_row(row) for row in rows]
    for task in cancelled:
        await events.emit(conn, events.cancelled(task, cause, now))
    return cancelled


async def mark_awaiting_approval(conn: asyncpg.Connection, case_task_id: str, approval_task_id: str) -> None:
    """The customer's task records the approval task its request now waits for (in the request's transaction)."""
    await conn.execute(
        "UPDATE tasks SET pending_approval_task_id = $2 WHERE task_id = $1", case_task_id, approval_task_id
    )


async def approval_decided(conn: asyncpg.Connection, approval_task_id: str) -> None:
    """The approval was given or refused: the task that waited for it waits no more (in the decision's transaction)."""
    await conn.execute(
        "UPDATE tasks SET pending_approval_task_id = NULL WHERE pending_approval_task_id = $1", approval_task_id
    )
