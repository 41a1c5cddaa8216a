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
    account_id: AccountId
    call_id: Identifier
    reason: CallReason
    channel: CallChannel
    invoice_id: Identifier | None = None
    caller_number: E164Number | None = None


class CallAnswered(FrozenModel):
    account_id: AccountId
    call_id: Identifier
    agent_id: Identifier


class CallAbandoned(FrozenModel):
    account_id: AccountId
    call_id: Identifier


class CallEnded(FrozenModel):
    account_id: AccountId
    call_id: Identifier
    outcome: CallOutcome
