"""Agent-queue task payloads: what happened to a piece of customer feedback on its way to an agent.

Published on `billing.task-events.v1` (keyed by account) by the queue store through the outbox; the
`task.routed.v1` of each queue is also published on that queue's own topic (`billing.queue.<queue>.v1`) for
agent tools. Ids are deterministic from (task, transition, attempt), so a re-emitted transition dedupes.
Durations are integer milliseconds; money is integer minor units.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from billing.contracts.base import JSON_SAFE_MAX, STORABLE, AccountId, FrozenModel, Identifier, Text200, UtcDatetime
from billing.contracts.money import CurrencyCode, NonNegativeMinor, PositiveMoney

QueueName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
Milliseconds = Annotated[int, Field(strict=True, ge=0, le=JSON_SAFE_MAX)]
RuleName = Annotated[str, StringConstraints(min_length=1, max_length=64), STORABLE]


class TaskKind(StrEnum):
    CALL = "call"
    DISPUTE = "dispute"
    HELD_INVOICE = "held_invoice"
    DISCOUNT_APPROVAL = "discount_approval"
    COLLECTIONS = "collections"  # an overdue account to call (a dunning step)


class Tier(IntEnum):
    FRONTLINE = 1
    SENIOR = 2


class RequeueCause(StrEnum):
    REJECTED = "rejected"
    LEASE_EXPIRED = "lease_expired"
    WIDENED = "widened"
    HANDLE_TIMED_OUT = "handle_timed_out"  # accepted, but not completed within TASK_HANDLE_TIMEOUT_S
    AGENT_REVOKED = "agent_revoked"  # the holder's access was revoked
    RELEASED = "released"  # a supervisor handed the task back to its queue
    REASSIGNED = "reassigned"  # a supervisor offered the task to another agent


class CancelCause(StrEnum):
    CALLER_ABANDONED = "caller_abandoned"
    ACCOUNT_CLOSED = "account_closed"
    SUPERSEDED = "superseded"


class TaskOutcome(StrEnum):
    RESOLVED = "resolved"
    FOLLOW_UP = "follow_up"
    TRANSFERRED = "transferred"


class SystemOutcome(StrEnum):
    """Outcomes the queue records itself, never an agent's choice (so the agent API does not offer them)."""

    WRAP_UP_TIMED_OUT = "wrap_up_timed_out"  # nobody completed the wrap-up within TASK_WRAP_UP_TIMEOUT_S


class Practice(StrEnum):
    """What the agent did for the customer (the retention statistics compare these)."""

    EXPLANATION_ONLY = "explanation_only"
    DISCOUNT_PERCENT = "discount_percent"
    DISCOUNT_FIXED = "discount_fixed"
    CREDIT = "credit"
    PLAN_CHANGE = "plan_change"
    NONE = "none"


class HoldoutArm(StrEnum):
    TREATMENT = "treatment"
    CONTROL = "control"
    NOT_ELIGIBLE = "not_eligible"


class TaskPayload(FrozenModel):
    task_id: Identifier
    account_id: AccountId
    queue: QueueName


class TaskRouted(TaskPayload):
    """A call, dispute or held invoice became a task in an agent queue, with its priority and routing rule."""

    kind: TaskKind
    tier: Tier
    priority: int = Field(strict=True, ge=0, le=1_000_000)
    reason: Text200
    rule: RuleName
    call_id: Identifier | None = None
    dispute_id: Identifier | None = None
    invoice_id: Identifier | None = None
    disputed_amount: PositiveMoney | None = None


class TaskAccepted(TaskPayload):
    """An agent accepted the task it had claimed."""

    agent_id: Identifier
    waited_ms: Milliseconds  # routed -> accepted
    # An agent answered this task before (it went back after a timeout, a revocation or a supervisor's release,
    # or was reassigned): the caller's wait ended then, so service metrics count the task's answer once.
    answered_before: bool = False


class TaskRequeued(TaskPayload):
    """The task went back to a queue: rejected, lease expired, widened, timed out, revoked, released, reassigned."""

    cause: RequeueCause
    new_queue: QueueName | None = None  # the pool added when the cause is `widened`


class TaskCancelled(TaskPayload):
    """The task was cancelled before completion (the caller hung up, the account closed, or it was superseded)."""

    cause: CancelCause
    waited_ms: Milliseconds  # routed -> cancelled


class TaskCompleted(TaskPayload):
    """An agent completed the task: outcome, practice, arm, discount money (a case of the retention statistics)."""

    agent_id: Identifier
    agent_tier: Tier
    kind: TaskKind
    outcome: TaskOutcome | SystemOutcome
    practice: Practice
    arm: HoldoutArm
    discount_minor: NonNegativeMinor  # money granted in this case, in `currency`
    currency: CurrencyCode
    waited_ms: Milliseconds  # routed -> accepted
    handle_ms: Milliseconds  # accepted -> completed
    opened_at: UtcDatetime  # when the task was routed
    # The retention experiment's period the arm was drawn in at routing (analysis plan and holdout share);
    # absent for tasks routed before periods were recorded.
    period: Annotated[str, StringConstraints(min_length=1, max_length=200), STORABLE] | None = None
