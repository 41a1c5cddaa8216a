"""Customer-care call payloads (phone, chat, callback)."""

from __future__ import annotations

from enum import StrEnum

from billing.contracts.base import AccountId, E164Number, FrozenModel, Identifier


class CallReason(StrEnum):
    BILL_QUESTION = "bill_question"
    DISPUTE = "dispute"
    PLAN_CHANGE = "plan_change"
    CANCELLATION_INTENT = "cancellation_intent"
    OTHER = "other"


class CallChannel(StrEnum):
    PHONE = "phone"
    CHAT = "chat"
    CALLBACK = "callback"


class CallOutcome(StrEnum):
    RESOLVED = "resolved"
    FOLLOW_UP = "follow_up"
    TRANSFERRED = "transferred"
    DROPPED = "dropped"


class CallStarted(FrozenModel):
    """A customer contact began at the contact centre (becomes a task in an agent queue)."""

    account_id: AccountId
    call_id: Identifier
    reason: CallReason
    channel: CallChannel
    invoice_id: Identifier | None = None
    caller_number: E164Number | None = None


class CallAnswered(FrozenModel):
    """An agent answered the call."""

    account_id: AccountId
    call_id: Identifier
    agent_id: Identifier


class CallAbandoned(FrozenModel):
    """The caller hung up before an agent answered (cancels the call's waiting task)."""

    account_id: AccountId
    call_id: Identifier


class CallEnded(FrozenModel):
    """The call ended, with its outcome."""

    account_id: AccountId
    call_id: Identifier
    outcome: CallOutcome
