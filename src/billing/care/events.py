"""Task events, built from a task row, written to the outbox in the caller's transaction.

Event ids are deterministic from (task, transition, attempt): a transition written twice (a replayed routing
event, a retried sweep) gives the same id, and consumers dedupe on it.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from billing.care.rules.queue_model import QueueTask, millis_between
from billing.contracts import dump_event
from billing.contracts import envelope as ev
from billing.contracts.money import Money
from billing.contracts.tasks import (
    CancelCause,
    HoldoutArm,
    Practice,
    RequeueCause,
    SystemOutcome,
    TaskAccepted,
    TaskCancelled,
    TaskCompleted,
    TaskKind,
    TaskOutcome,
    TaskRequeued,
    TaskRouted,
    Tier,
)
from billing.platform.store import enqueue
from billing.platform.topics import TASK_EVENTS, queue_topic

ROUTER_SOURCE = "care/router"
QUEUES_SOURCE = "care/queues"


def _envelope(event_id: str, source: str, at: datetime) -> dict[str, object]:
    return {"event_id": event_id, "source": source, "occurred_at": at, "schema_version": 1}


def _common(task: QueueTask) -> dict[str, str]:
    return {"task_id": task.task_id, "account_id": task.account_id, "queue": task.queue}


def routed(task: QueueTask) -> ev.TaskRoutedEvent:
    amount = (
        Money(amount_minor=task.disputed_amount_minor, currency=task.currency)
        if task.disputed_amount_minor and task.currency
        else None
    )
    payload = TaskRouted(
        **_common(task),
        kind=TaskKind(task.kind),
        tier=Tier(task.tier),
        priority=max(0, task.priority),
        reason=task.reason,
        rule=task.rule,
        call_id=task.call_id,
        dispute_id=task.dispute_id,
        invoice_id=task.invoice_id,
        disputed_amount=amount,
    )
    return ev.TaskRoutedEvent(
        **_envelope(f"{task.task_id}:routed", ROUTER_SOURCE, task.routed_at), type="task.routed.v1", payload=payload
    )


def accepted(task: QueueTask, now: datetime, answered_before: bool = False) -> ev.TaskAcceptedEvent:
    # A task answered before waited until its first answer; the id's attempt tells this answer from that one.
    waited_ms = millis_between(task.routed_at, task.first_accepted_at or now)
    payload = TaskAccepted(
        **_common(task), agent_id=task.holder_agent_id, waited_ms=waited_ms, answered_before=answered_before
    )
    return ev.TaskAcceptedEvent(
        **_envelope(f"{task.task_id}:accepted:{task.attempts}", QUEUES_SOURCE, now),
        type="task.accepted.v1",
        payload=payload,
    )


def requeued(task: QueueTask, cause: RequeueCause, now: datetime, new_queue: str | None = None) -> ev.TaskRequeuedEvent:
    # A release is once per offer (attempt); a widening is once per pool added.
    suffix = new_queue if cause is RequeueCause.WIDENED else str(task.attempts)
    payload = TaskRequeued(**_common(task), cause=cause, new_queue=new_queue)
    return ev.TaskRequeuedEvent(
        **_envelope(f"{task.task_id}:{cause.value}:{suffix}", QUEUES_SOURCE, now),
        type="task.requeued.v1",
        payload=payload,
    )


def _recorded(value: str | None, what: str, task: QueueTask) -> str:
    """A field a completed task carries (its wrap-up wrote it); None would be a task completed without one."""
    if value is None:
        raise ValueError(f"task {task.task_id} completed without its {what}")
    return value


def _outcome(value: str) -> TaskOutcome | SystemOutcome:
    try:
        return TaskOutcome(value)
    except ValueError:
        return SystemOutcome(value)  # recorded by the queue itself (a wrap-up that timed out)


def cancelled(task: QueueTask, cause: CancelCause, now: datetime) -> ev.TaskCancelledEvent:
    payload = TaskCancelled(**_common(task), cause=cause, waited_ms=millis_between(task.routed_at, now))
    return ev.TaskCancelledEvent(
        **_envelope(f"{task.task_id}:cancelled", QUEUES_SOURCE, now), type="task.cancelled.v1", payload=payload
    )


def completed(task: QueueTask, agent_tier: int, currency: str, now: datetime) -> ev.TaskCompletedEvent:
    payload = TaskCompleted(
        **_common(task),
        agent_id=task.holder_agent_id,
        agent_tier=Tier(agent_tier),
        kind=TaskKind(task.kind),
        outcome=_outcome(_recorded(task.outcome, "outcome", task)),
        practice=Practice(_recorded(task.practice, "practice", task)),
        arm=HoldoutArm(_recorded(task.arm, "arm", task)),
        discount_minor=task.discount_minor or 0,
        currency=currency,
        waited_ms=millis_between(task.routed_at, task.first_accepted_at or task.accepted_at or now),
        handle_ms=millis_between(task.accepted_at, now),
        opened_at=task.routed_at,
        period=task.period,
    )
    return ev.TaskCompletedEvent(
        **_envelope(f"{task.task_id}:completed", QUEUES_SOURCE, now), type="task.completed.v1", payload=payload
    )


async def emit(conn: asyncpg.Connection, event: ev.Event, also_to_queue: str | None = None) -> None:
    """Write the event to the outbox on billing.task-events.v1 (and on the queue's own topic when given)."""
    key = event.payload.account_id.encode()
    value = dump_event(event)
    await enqueue(conn, TASK_EVENTS.name, key, value)
    if also_to_queue is not None:
        await enqueue(conn, queue_topic(also_to_queue).name, key, value)
