"""A task row as an immutable value, the errors of the queue store, and the mapping to the pure task core."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Protocol

from billing.care.rules.task_states import HoldLimits, Task, TaskState

OPEN_STATES = ("queued", "reserved", "accepted", "wrapping")
HELD_STATES = ("reserved", "accepted", "wrapping")


class TaskNotFound(LookupError):
    """No task with that id (HTTP 404)."""


class TaskConflict(Exception):
    """The task is not in a state where this agent may do that (HTTP 409): not the holder, wrong state, lease lost."""


class Row(Protocol):
    """A stored task row read by column name: a mapping, or a database record (which is no Mapping) alike."""

    def __getitem__(self, key: str, /) -> Any: ...


@dataclass(frozen=True)
class QueueTask:
    task_id: str
    kind: str
    source_event_id: str
    account_id: str
    call_id: str | None
    dispute_id: str | None
    invoice_id: str | None
    reason: str
    rule: str
    queue: str
    eligible_queues: tuple[str, ...]
    tier: int
    static_priority: int
    priority: int
    disputed_amount_minor: int | None
    currency: str | None
    state: str
    holder_agent_id: str | None
    lease_expires_at: datetime | None
    routed_at: datetime
    claimed_at: datetime | None
    accepted_at: datetime | None
    wrapping_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancel_cause: str | None
    outcome: str | None
    practice: str | None
    arm: str | None
    agent_tier: int | None
    discount_minor: int | None
    attempts: int
    offers_rejected: int
    offers_expired: int
    first_accepted_at: datetime | None = None  # the first agent's answer; accepted_at is the current agent's
    period: str | None = None  # the retention experiment's period the arm was drawn in, at routing
    pending_approval_task_id: str | None = None  # the approval a request made on this task waits for

    @classmethod
    def from_row(cls, row: Row) -> QueueTask:
        values = {spec.name: row[spec.name] for spec in fields(cls)}
        values["eligible_queues"] = tuple(values["eligible_queues"])
        return cls(**values)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def as_core(self) -> Task:
        """The pure core's view of this task, to check a transition with src/billing/care/rules/task_states.py."""
        return Task(
            task_id=self.task_id,
            queue=self.queue,
            priority=self.priority,
            enqueued_at=self.routed_at,
            state=TaskState(self.state),
            agent_id=self.holder_agent_id,
            lease_until=self.lease_expires_at,
            reserved_at=self.claimed_at,
            offers_rejected=self.offers_rejected,
            offers_expired=self.offers_expired,
            accepted_at=self.accepted_at,
            first_accepted_at=self.first_accepted_at,
            wrapping_at=self.wrapping_at,
            completed_at=self.completed_at,
            cancelled_at=self.cancelled_at,
            outcome=self.outcome,
        )


def hold_limits(settings: Any) -> HoldLimits:
    """The handling and wrap-up limits of the settings (TASK_HANDLE_TIMEOUT_S, TASK_WRAP_UP_TIMEOUT_S)."""
    return HoldLimits(handle_s=settings.task_handle_timeout_s, wrap_up_s=settings.task_wrap_up_timeout_s)


def millis_between(start: datetime | None, end: datetime) -> int:
    """Whole milliseconds from start to end, never negative (clock skew between hosts must not go below 0)."""
    if start is None:
        return 0
    # Integer timedelta division: float seconds would lose a millisecond now and then.
    return max(0, (end - start) // timedelta(milliseconds=1))


@dataclass(frozen=True)
class QueueOverview:
    queue: str
    waiting: int
    oldest_wait_s: float | None
    reserved: int
    accepted: int  # accepted or wrapping: an agent is working it
