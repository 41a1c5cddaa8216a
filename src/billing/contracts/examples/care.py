"""Example events of customer care: the call, the dispute and its credit note, the discount, the care task."""

from __future__ import annotations

from collections.abc import Callable

from billing.contracts import envelope as ev
from billing.contracts.calls import (
    CallAbandoned,
    CallAnswered,
    CallChannel,
    CallEnded,
    CallOutcome,
    CallReason,
    CallStarted,
)
from billing.contracts.credit_notes import CreditNoteIssued, CreditSource
from billing.contracts.discounts import DiscountGranted, DiscountKind
from billing.contracts.disputes import (
    DisputeInReview,
    DisputeOpened,
    DisputeOutcome,
    DisputeReason,
    DisputeResolved,
    DisputeRouted,
)
from billing.contracts.examples.common import ACCOUNT, CALL, INVOICE, TASK, at, envelope
from billing.contracts.money import Money
from billing.contracts.tasks import (
    CancelCause,
    HoldoutArm,
    Practice,
    RequeueCause,
    TaskAccepted,
    TaskCancelled,
    TaskCompleted,
    TaskKind,
    TaskOutcome,
    TaskRequeued,
    TaskRouted,
    Tier,
)


def call_builders() -> dict[str, Callable[[], ev.Event]]:
    """The call, with the dispute opened and resolved and the discount granted on it."""
    return {
        "call.started.v1": lambda: ev.CallStartedEvent(
            **envelope(4, "care/acd", 3, 9),
            type="call.started.v1",
            payload=CallStarted(
                account_id=ACCOUNT,
                call_id=CALL,
                reason=CallReason.BILL_QUESTION,
                channel=CallChannel.PHONE,
                invoice_id=INVOICE,
                caller_number="+4915112345678",
            ),
        ),
        "call.answered.v1": lambda: ev.CallAnsweredEvent(
            **envelope(5, "care/acd", 3, 9),
            type="call.answered.v1",
            payload=CallAnswered(account_id=ACCOUNT, call_id=CALL, agent_id="agent-314"),
        ),
        "call.abandoned.v1": lambda: ev.CallAbandonedEvent(
            **envelope(6, "care/acd", 3, 11),
            type="call.abandoned.v1",
            payload=CallAbandoned(account_id="acc-100077", call_id="call-7f3aa0"),
        ),
        "call.ended.v1": lambda: ev.CallEndedEvent(
            **envelope(10, "care/acd", 3, 10),
            type="call.ended.v1",
            payload=CallEnded(account_id=ACCOUNT, call_id=CALL, outcome=CallOutcome.RESOLVED),
        ),
        "dispute.opened.v1": lambda: ev.DisputeOpenedEvent(
            **envelope(7, "care/desk", 3, 9),
            type="dispute.opened.v1",
            payload=DisputeOpened(
                account_id=ACCOUNT,
                dispute_id="dsp-5521",
                invoice_id=INVOICE,
                line_id="l2",
                amount=Money(amount_minor=750, currency="EUR"),
                reason=DisputeReason.ROAMING,
                note="Customer says data roaming was switched off.",
            ),
        ),
        "dispute.resolved.v1": lambda: ev.DisputeResolvedEvent(
            **envelope(8, "care/desk", 3, 10),
            type="dispute.resolved.v1",
            payload=DisputeResolved(
                account_id=ACCOUNT,
                dispute_id="dsp-5521",
                invoice_id=INVOICE,
                outcome=DisputeOutcome.CREDITED,
                credit=Money(amount_minor=750, currency="EUR"),
                reason="Network logs confirm roaming bar was active.",
            ),
        ),
        "discount.granted.v1": lambda: ev.DiscountGrantedEvent(
            **envelope(9, "care/desk", 3, 10),
            type="discount.granted.v1",
            payload=DiscountGranted(
                account_id=ACCOUNT,
                grant_id="grt-0091",
                kind=DiscountKind.PERCENT_NEXT_INVOICES,
                percent_bp=1500,
                invoice_count=3,
                reason_code="retention-bill-shock",
                criteria=("tenure>=24m", "no-prior-grant-12m"),
                granted_by="agent-314",
                approved_by="lead-027",
            ),
        ),
    }


def dispute_step_builders() -> dict[str, Callable[[], ev.Event]]:
    """The dispute between opened and resolved: routed, in review, its credit note."""
    dispute = {"account_id": ACCOUNT, "dispute_id": "dsp-5521", "invoice_id": INVOICE}
    return {
        "dispute.routed.v1": lambda: ev.DisputeRoutedEvent(
            **envelope(20, "care/disputes", 3, 9),
            type="dispute.routed.v1",
            payload=DisputeRouted(**dispute, task_id="tsk-2b7c0d9e8f1a2b3c4d5e", queue="disputes"),
        ),
        "dispute.in_review.v1": lambda: ev.DisputeInReviewEvent(
            **envelope(21, "care/disputes", 3, 10),
            type="dispute.in_review.v1",
            payload=DisputeInReview(**dispute, agent_id="agent-314"),
        ),
        "credit_note.issued.v1": lambda: ev.CreditNoteIssuedEvent(
            **envelope(22, "care/credit-notes", 3, 10),
            type="credit_note.issued.v1",
            payload=CreditNoteIssued(
                account_id=ACCOUNT,
                credit_note_id="cn-dispute:dsp-5521",
                credit_note_number="CN-2026-000001",
                invoice_id=INVOICE,
                grant_id="dispute:dsp-5521",
                source=CreditSource.DISPUTE,
                dispute_id="dsp-5521",
                amount=Money(amount_minor=750, currency="EUR"),
                reason="Network logs confirm roaming bar was active.",
                issued_by="agent-314",
                issued_at=at(3, 10),
            ),
        ),
    }


def task_builders() -> dict[str, Callable[[], ev.Event]]:
    """The care task behind the call."""
    task = {"task_id": TASK, "account_id": ACCOUNT, "queue": "billing"}
    return {
        "task.routed.v1": lambda: ev.TaskRoutedEvent(
            **envelope(13, "care/router", 3, 9),
            type="task.routed.v1",
            payload=TaskRouted(
                **task,
                kind=TaskKind.CALL,
                tier=Tier.FRONTLINE,
                priority=23,
                reason="bill_question",
                rule="default",
                call_id=CALL,
                invoice_id=INVOICE,
            ),
        ),
        "task.requeued.v1": lambda: ev.TaskRequeuedEvent(
            **envelope(14, "care/queues", 3, 9),
            type="task.requeued.v1",
            payload=TaskRequeued(**task, cause=RequeueCause.WIDENED, new_queue="tier2"),
        ),
        "task.accepted.v1": lambda: ev.TaskAcceptedEvent(
            **envelope(15, "care/queues", 3, 9),
            type="task.accepted.v1",
            payload=TaskAccepted(**task, agent_id="agent-314", waited_ms=41_000),
        ),
        "task.completed.v1": lambda: ev.TaskCompletedEvent(
            **envelope(16, "care/queues", 3, 10),
            type="task.completed.v1",
            payload=TaskCompleted(
                **task,
                agent_id="agent-314",
                agent_tier=Tier.FRONTLINE,
                kind=TaskKind.CALL,
                outcome=TaskOutcome.RESOLVED,
                practice=Practice.DISCOUNT_FIXED,
                arm=HoldoutArm.TREATMENT,
                discount_minor=500,
                currency="EUR",
                waited_ms=41_000,
                handle_ms=312_000,
                opened_at=at(3, 9),
            ),
        ),
        "task.cancelled.v1": lambda: ev.TaskCancelledEvent(
            **envelope(17, "care/queues", 3, 11),
            type="task.cancelled.v1",
            payload=TaskCancelled(
                task_id="tsk-9e0f1a2b3c4d5e6f7a80",
                account_id="acc-100077",
                queue="billing",
                cause=CancelCause.CALLER_ABANDONED,
                waited_ms=95_000,
            ),
        ),
    }
