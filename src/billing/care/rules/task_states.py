"""The life of one agent-queue task, as pure transitions on an immutable Task.

    queued --claim--> reserved --accept--> accepted --wrap_up--> wrapping
      ^                  |                     |                     |
      +--reject----------+                     +------complete-------+--> completed
      +--lease expired---+
    queued / reserved --cancel (caller abandoned)--> cancelled

A hold ends without its agent, too. Each held state has a time limit: the offer its lease, ``accepted`` the
handling limit, ``wrapping`` the wrap-up limit (``HoldLimits``). When it runs out (``time_out_if_due``) an offer
or an accepted task goes back to the queue (any agent of the queue can pick up the work, and the task keeps its
age, so it is taken soon); a wrap-up is completed with outcome ``wrap_up_timed_out``: the conversation is over
and only the record is missing, so handing it to someone who was not there would only invent one. A supervisor
may ``release`` a held task back to the queue (so does revoking its agent) or ``reassign`` any open task as an
offer to a named agent.

``queued`` is what Twilio TaskRouter calls "pending". An offer (reservation)
holds the task for one agent until ``lease_until``; it ends by accept,
reject, or the lease running out. Rejected and expired are not resting
states: the task goes straight back to ``queued`` and the counters
``offers_rejected`` / ``offers_expired`` plus ``last_release`` record why.

A task keeps its ``enqueued_at`` when it goes back to the queue, so its age
(and the aging part of its priority) carries on; otherwise an agent who keeps
rejecting could push a caller to the back indefinitely.

The lease is half-open: held while ``now < lease_until``, free from
``lease_until`` on. So at any instant either the holder may still accept or
another agent may claim, never both.

Times are tz-aware datetimes passed in by the caller; this module never reads
a clock. Every function returns a new Task or raises TaskTransitionError.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from billing.contracts.tasks import SystemOutcome


class TaskState(StrEnum):
    QUEUED = "queued"
    RESERVED = "reserved"
    ACCEPTED = "accepted"
    WRAPPING = "wrapping"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class ReleaseReason(StrEnum):
    REJECTED = "rejected"
    LEASE_EXPIRED = "lease_expired"
    HANDLE_TIMED_OUT = "handle_timed_out"  # accepted, and the handling limit ran out
    AGENT_REVOKED = "agent_revoked"  # the holder's access was revoked
    RELEASED = "released"  # a supervisor handed it back to the queue
    REASSIGNED = "reassigned"  # a supervisor offered it to another agent


class TaskTransitionError(Exception):
    """The requested transition is not allowed from the task's current state."""


@dataclass(frozen=True)
class Task:
    task_id: str
    queue: str
    priority: int
    enqueued_at: datetime
    state: TaskState = TaskState.QUEUED
    agent_id: str | None = None  # the agent offered or working the task
    lease_until: datetime | None = None  # only while reserved
    reserved_at: datetime | None = None  # latest offer
    released_at: datetime | None = None  # latest return to the queue
    last_release: ReleaseReason | None = None
    offers_rejected: int = 0
    offers_expired: int = 0
    accepted_at: datetime | None = None  # latest acceptance: the current agent's handling started
    first_accepted_at: datetime | None = None  # the caller's wait ended; kept when the task goes back
    wrapping_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    outcome: str | None = None

    def lease_active(self, now: datetime) -> bool:
        return self.state is TaskState.RESERVED and self.lease_until is not None and now < self.lease_until


@dataclass(frozen=True)
class HoldLimits:
    """How long an agent may stay in a working state: ``accepted`` (handling) and ``wrapping`` (after-work).
    An offer's limit is its own lease (``lease_until``)."""

    handle_s: int
    wrap_up_s: int

    def __post_init__(self) -> None:
        if self.handle_s <= 0 or self.wrap_up_s <= 0:
            raise ValueError(f"hold limits must be positive, got {self.handle_s} and {self.wrap_up_s}")


_ALLOWED_FROM: Mapping[str, frozenset[TaskState]] = {
    # From reserved only once the lease has run out (checked in claim).
    "claim": frozenset({TaskState.QUEUED, TaskState.RESERVED}),
    "accept": frozenset({TaskState.RESERVED}),
    "reject": frozenset({TaskState.RESERVED}),
    "wrap_up": frozenset({TaskState.ACCEPTED}),
    # Wrap-up is optional: a call needing no after-work completes directly.
    "complete": frozenset({TaskState.ACCEPTED, TaskState.WRAPPING}),
    # Abandonment is the caller hanging up before an agent took the call; a
    # hang-up after accept is a completion with outcome "dropped".
    "cancel": frozenset({TaskState.QUEUED, TaskState.RESERVED}),
    "release": frozenset({TaskState.RESERVED, TaskState.ACCEPTED, TaskState.WRAPPING}),
    "reassign": frozenset({TaskState.QUEUED, TaskState.RESERVED, TaskState.ACCEPTED, TaskState.WRAPPING}),
}

_RELEASE_COUNTER: Mapping[ReleaseReason, str] = {
    ReleaseReason.REJECTED: "offers_rejected",
    ReleaseReason.LEASE_EXPIRED: "offers_expired",
}


def _require_state(task: Task, action: str) -> None:
    allowed = _ALLOWED_FROM[action]
    if task.state not in allowed:
        raise TaskTransitionError(
            f"cannot {action} task {task.task_id}: it is {task.state.value}; "
            f"{action} is allowed only from {', '.join(sorted(state.value for state in allowed))}"
        )


def _require_holder(task: Task, agent_id: str, action: str) -> None:
    if task.agent_id != agent_id:
        raise TaskTransitionError(
            f"cannot {action} task {task.task_id} as agent {agent_id!r}: "
            f"it is {task.state.value} for agent {task.agent_id!r}"
        )


def _require_agent_id(agent_id: str) -> None:
    if not isinstance(agent_id, str) or not agent_id:
        raise TaskTransitionError(f"agent_id must be a non-empty string, got {agent_id!r}")


def _release(task: Task, reason: ReleaseReason, now: datetime) -> Task:
    counter = _RELEASE_COUNTER.get(reason)
    counted = {counter: getattr(task, counter) + 1} if counter else {}
    return replace(
        task, state=TaskState.QUEUED, agent_id=None, lease_until=None, released_at=now, last_release=reason, **counted
    )


def _held_message(task: Task, agent_id: str) -> str:
    if task.agent_id == agent_id:
        return f"task {task.task_id} is already offered to agent {agent_id!r} until {task.lease_until}"
    return (
        f"cannot claim task {task.task_id} for agent {agent_id!r}: it is offered to agent "
        f"{task.agent_id!r} until {task.lease_until}"
    )


def expire_if_due(task: Task, now: datetime) -> Task:
    """Return a reserved task whose lease has run out to the queue; any other
    task comes back unchanged (this is a sweep, not a command)."""
    if task.state is TaskState.RESERVED and not task.lease_active(now):
        return _release(task, ReleaseReason.LEASE_EXPIRED, now)
    return task


def claim(task: Task, agent_id: str, now: datetime, lease_s: int) -> Task:
    """Offer the task to ``agent_id`` until ``now + lease_s``."""
    _require_agent_id(agent_id)
    _require_state(task, "claim")
    if lease_s <= 0:
        raise TaskTransitionError(f"lease_s must be positive, got {lease_s}")
    if task.lease_active(now):
        raise TaskTransitionError(_held_message(task, agent_id))
    # Sweep first so a lapsed offer is counted even if no sweeper ran before this claim.
    free = expire_if_due(task, now)
    return replace(
        free,
        state=TaskState.RESERVED,
        agent_id=agent_id,
        lease_until=now + timedelta(seconds=lease_s),
        reserved_at=now,
    )


def accept(task: Task, agent_id: str, now: datetime) -> Task:
    _require_state(task, "accept")
    _require_holder(task, agent_id, "accept")
    if not task.lease_active(now):
        raise TaskTransitionError(
            f"cannot accept task {task.task_id}: the offer to agent {agent_id!r} expired at {task.lease_until}"
        )
    first = task.first_accepted_at or now  # a task answered before keeps the end of the caller's first wait
    return replace(task, state=TaskState.ACCEPTED, lease_until=None, accepted_at=now, first_accepted_at=first)


def reject(task: Task, agent_id: str, now: datetime) -> Task:
    # Allowed even after the lease ran out: the agent's answer is the more
    # precise record, and the task goes back to the queue either way.
    _require_state(task, "reject")
    _require_holder(task, agent_id, "reject")
    return _release(task, ReleaseReason.REJECTED, now)


def wrap_up(task: Task, agent_id: str, now: datetime) -> Task:
    _require_state(task, "wrap_up")
    _require_holder(task, agent_id, "wrap_up")
    return replace(task, state=TaskState.WRAPPING, wrapping_at=now)


def complete(task: Task, outcome: str, now: datetime) -> Task:
    _require_state(task, "complete")
    if not isinstance(outcome, str) or not outcome:
        raise TaskTransitionError(f"cannot complete task {task.task_id}: outcome must be a non-empty string")
    return replace(task, state=TaskState.COMPLETED, completed_at=now, outcome=outcome)


def cancel(task: Task, now: datetime) -> Task:
    """The caller abandoned while waiting or while being offered."""
    _require_state(task, "cancel")
    return replace(task, state=TaskState.CANCELLED, agent_id=None, lease_until=None, cancelled_at=now)


def hold_ends_at(task: Task, limits: HoldLimits) -> datetime | None:
    """When the holder's hold on the task runs out (half-open, like the lease); None when nobody holds it."""
    if task.state is TaskState.RESERVED:
        return task.lease_until
    if task.state is TaskState.ACCEPTED and task.accepted_at is not None:
        return task.accepted_at + timedelta(seconds=limits.handle_s)
    if task.state is TaskState.WRAPPING and task.wrapping_at is not None:
        return task.wrapping_at + timedelta(seconds=limits.wrap_up_s)
    return None


def hold_lapsed_at(task: Task, now: datetime, limits: HoldLimits) -> datetime | None:
    """The moment a held task's hold ran out, if it has by ``now``; None while it runs (or nobody holds it)."""
    ends = hold_ends_at(task, limits)
    return ends if ends is not None and now >= ends else None


def time_out_if_due(task: Task, now: datetime, limits: HoldLimits) -> Task:
    """End a hold that has run out (a sweep, not a command): an offer or an accepted task goes back to the
    queue; a wrap-up is completed with outcome ``wrap_up_timed_out`` at the moment its limit ran out, so the
    record does not depend on when a sweeper came by. Any other task comes back unchanged."""
    lapsed_at = hold_lapsed_at(task, now, limits)
    if lapsed_at is None:
        return task
    if task.state is TaskState.RESERVED:
        return _release(task, ReleaseReason.LEASE_EXPIRED, now)
    if task.state is TaskState.ACCEPTED:
        return _release(task, ReleaseReason.HANDLE_TIMED_OUT, now)
    return replace(
        task, state=TaskState.COMPLETED, completed_at=lapsed_at, outcome=SystemOutcome.WRAP_UP_TIMED_OUT.value
    )


def release(task: Task, reason: ReleaseReason, now: datetime) -> Task:
    """The hold ends without its agent (a supervisor's release, the agent revoked): back to the queue,
    keeping the task's age."""
    _require_state(task, "release")
    if reason not in (ReleaseReason.RELEASED, ReleaseReason.AGENT_REVOKED):
        raise TaskTransitionError(f"cannot release task {task.task_id} for reason {reason.value}")
    return _release(task, reason, now)


def reassign(task: Task, agent_id: str, now: datetime, lease_s: int) -> Task:
    """A supervisor offers an open task to a named agent, taking it from its holder if it has one. The new
    agent gets an offer like a claim's: accept within the lease, or it goes back to the queue."""
    _require_agent_id(agent_id)
    _require_state(task, "reassign")
    if lease_s <= 0:
        raise TaskTransitionError(f"lease_s must be positive, got {lease_s}")
    if task.agent_id == agent_id:
        raise TaskTransitionError(f"task {task.task_id} is already {task.state.value} for agent {agent_id!r}")
    free = task if task.state is TaskState.QUEUED else _release(task, ReleaseReason.REASSIGNED, now)
    return replace(
        free, state=TaskState.RESERVED, agent_id=agent_id, lease_until=now + timedelta(seconds=lease_s), reserved_at=now
    )
