"""The wire envelope and the discriminated union of every event type.

One JSON object per message; `type` selects the payload model, so a consumer
parses any topic with `parse_event` and gets a fully typed object back.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar, get_args

from pydantic import BaseModel, BeforeValidator, Field, TypeAdapter

from billing.contracts.accounts import AccountClosed, AccountOpened, AccountPlanChanged
from billing.contracts.base import EventId, FrozenModel, Text128, UtcDatetime
from billing.contracts.calls import CallAbandoned, CallAnswered, CallEnded, CallStarted
from billing.contracts.credit_notes import CreditNoteIssued
from billing.contracts.discounts import DiscountGranted
from billing.contracts.disputes import DisputeInReview, DisputeOpened, DisputeResolved, DisputeRouted
from billing.contracts.invoices import InvoiceHeld, InvoiceIssued
from billing.contracts.payments import (
    AccountRestored,
    AccountSuspended,
    PaymentChargedBack,
    PaymentFailed,
    PaymentReceived,
    PaymentRefunded,
)
from billing.contracts.tasks import TaskAccepted, TaskCancelled, TaskCompleted, TaskRequeued, TaskRouted
from billing.contracts.usage import UsageRecorded


def _exact_int(value: object) -> object:
    # Lax Literal[1] also accepts JSON `true` and 1.0; a version is an int.
    if type(value) is not int:
        raise ValueError("schema_version must be the integer 1")
    return value


class EnvelopeBase(FrozenModel):
    event_id: EventId
    # Declared here (narrowed to a Literal in each subclass) so `type` keeps
    # its place right after `event_id` in dumps and schemas.
    type: str
    source: Text128
    occurred_at: UtcDatetime
    schema_version: Annotated[Literal[1], BeforeValidator(_exact_int)]


class UsageRecordedEvent(EnvelopeBase):
    type: Literal["usage.recorded.v1"]
    payload: UsageRecorded


class AccountOpenedEvent(EnvelopeBase):
    type: Literal["account.opened.v1"]
    payload: AccountOpened


class AccountPlanChangedEvent(EnvelopeBase):
    type: Literal["account.plan_changed.v1"]
    payload: AccountPlanChanged


class AccountClosedEvent(EnvelopeBase):
    type: Literal["account.closed.v1"]
    payload: AccountClosed


class InvoiceIssuedEvent(EnvelopeBase):
    type: Literal["invoice.issued.v1"]
    payload: InvoiceIssued


class InvoiceHeldEvent(EnvelopeBase):
    type: Literal["invoice.held.v1"]
    payload: InvoiceHeld


class CallStartedEvent(EnvelopeBase):
    type: Literal["call.started.v1"]
    payload: CallStarted


class CallAnsweredEvent(EnvelopeBase):
    type: Literal["call.answered.v1"]
    payload: CallAnswered


class CallAbandonedEvent(EnvelopeBase):
    type: Literal["call.abandoned.v1"]
    payload: CallAbandoned


class CallEndedEvent(EnvelopeBase):
    type: Literal["call.ended.v1"]
    payload: CallEnded


class DisputeOpenedEvent(EnvelopeBase):
    type: Literal["dispute.opened.v1"]
    payload: DisputeOpened


class DisputeResolvedEvent(EnvelopeBase):
    type: Literal["dispute.resolved.v1"]
    payload: DisputeResolved


class DisputeRoutedEvent(EnvelopeBase):
    type: Literal["dispute.routed.v1"]
    payload: DisputeRouted


class DisputeInReviewEvent(EnvelopeBase):
    type: Literal["dispute.in_review.v1"]
    payload: DisputeInReview


class CreditNoteIssuedEvent(EnvelopeBase):
    type: Literal["credit_note.issued.v1"]
    payload: CreditNoteIssued


class DiscountGrantedEvent(EnvelopeBase):
    type: Literal["discount.granted.v1"]
    payload: DiscountGranted


class TaskRoutedEvent(EnvelopeBase):
    type: Literal["task.routed.v1"]
    payload: TaskRouted


class TaskAcceptedEvent(EnvelopeBase):
    type: Literal["task.accepted.v1"]
    payload: TaskAccepted


class TaskRequeuedEvent(EnvelopeBase):
    type: Literal["task.requeued.v1"]
    payload: TaskRequeued


class TaskCancelledEvent(EnvelopeBase):
    type: Literal["task.cancelled.v1"]
    payload: TaskCancelled


class TaskCompletedEvent(EnvelopeBase):
    type: Literal["task.completed.v1"]
    payload: TaskCompleted


class AccountSuspendedEvent(EnvelopeBase):
    type: Literal["account.suspended.v1"]
    payload: AccountSuspended


class AccountRestoredEvent(EnvelopeBase):
    type: Literal["account.restored.v1"]
    payload: AccountRestored


class PaymentReceivedEvent(EnvelopeBase):
    type: Literal["payment.received.v1"]
    payload: PaymentReceived


class PaymentFailedEvent(EnvelopeBase):
    type: Literal["payment.failed.v1"]
    payload: PaymentFailed


class PaymentRefundedEvent(EnvelopeBase):
    type: Literal["payment.refunded.v1"]
    payload: PaymentRefunded


class PaymentChargedBackEvent(EnvelopeBase):
    type: Literal["payment.charged_back.v1"]
    payload: PaymentChargedBack


# Listed explicitly (not built dynamically) so type checkers see the union.
Event = Annotated[
    UsageRecordedEvent
    | AccountOpenedEvent
    | AccountPlanChangedEvent
    | AccountClosedEvent
    | InvoiceIssuedEvent
    | InvoiceHeldEvent
    | CallStartedEvent
    | CallAnsweredEvent
    | CallAbandonedEvent
    | CallEndedEvent
    | DisputeOpenedEvent
    | DisputeResolvedEvent
    | DisputeRoutedEvent
    | DisputeInReviewEvent
    | CreditNoteIssuedEvent
    | DiscountGrantedEvent
    | TaskRoutedEvent
    | TaskAcceptedEvent
    | TaskRequeuedEvent
    | TaskCancelledEvent
    | TaskCompletedEvent
    | AccountSuspendedEvent
    | AccountRestoredEvent
    | PaymentReceivedEvent
    | PaymentFailedEvent
    | PaymentRefundedEvent
    | PaymentChargedBackEvent,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def _type_name(cls: type[EnvelopeBase]) -> str:
    (name,) = get_args(cls.model_fields["type"].annotation)
    return str(name)


def _build_event_types() -> dict[str, type[EnvelopeBase]]:
    classes: tuple[type[EnvelopeBase], ...] = get_args(get_args(Event)[0])
    return {_type_name(cls): cls for cls in classes}


EVENT_TYPES: dict[str, type[EnvelopeBase]] = _build_event_types()


def parse_event(raw: bytes) -> Event:
    """Decode one wire message; raises pydantic.ValidationError on any defect,
    including bytes that are not JSON at all."""
    return EVENT_ADAPTER.validate_json(raw)


def dump_event(event: Event) -> bytes:
    """Compact JSON, the exact form producers put on the wire."""
    return event.model_dump_json().encode()


P = TypeVar("P", bound=BaseModel)


def payload_as(event: Event, kind: type[P]) -> P:
    """The payload as the type its handler was chosen for: a handler is picked by the event's type
    (src/billing/platform/records.py), which a type checker cannot follow; a mismatch is a wiring bug."""
    payload = event.payload
    if not isinstance(payload, kind):
        raise TypeError(f"{event.type} carries {type(payload).__name__}, not {kind.__name__}")
    return payload


def account_id_of(event: Event) -> str:
    """Partition/ownership key: every payload carries the account it concerns."""
    return event.payload.account_id
