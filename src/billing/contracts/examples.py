"""One realistic, valid instance of every event type (docs/events.md, demo, tests)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from billing.contracts import envelope as ev
from billing.contracts.accounts import (
    AccountClosed,
    AccountOpened,
    AccountPlanChanged,
    ClosureReason,
    Contact,
)
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
from billing.contracts.examples_payments import payment_builders
from billing.contracts.invoices import InvoiceHeld, InvoiceIssued, InvoiceLine, InvoiceLineKind
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
from billing.contracts.usage import ServiceKind, UsageRecorded, UsageUnit

ACCOUNT = "acc-100042"
INVOICE = "inv-2026-11-100042"
CALL = "call-7f3a9c"
TASK = "tsk-4c1d2e9a0b7f3a9c5d21"


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def _envelope(n: int, source: str, day: int, hour: int) -> dict[str, object]:
    # Fixed ids and times so dumps in docs and snapshots never churn.
    return {
        "event_id": f"evt-000{n:02d}",
        "source": source,
        "occurred_at": _at(day, hour),
        "schema_version": 1,
    }


def _invoice() -> InvoiceIssued:
    lines = (
        InvoiceLine(
            line_id="l1",
            kind=InvoiceLineKind.RECURRING,
            description="Mobile Plus plan, November 2026",
            amount_minor=2999,
        ),
        InvoiceLine(
            line_id="l2",
            kind=InvoiceLineKind.USAGE,
            description="Roaming data, 1.5 GB",
            service=ServiceKind.DATA,
            quantity=1_610_612_736,
            amount_minor=750,
        ),
        InvoiceLine(line_id="l3", kind=InvoiceLineKind.DISCOUNT, description="Loyalty discount 10%", amount_minor=-300),
        InvoiceLine(line_id="l4", kind=InvoiceLineKind.TAX, description="VAT 19%", amount_minor=655),
    )
    return InvoiceIssued(
        account_id=ACCOUNT,
        invoice_id=INVOICE,
        invoice_number="INV-2026-000123",
        period_start=date(2026, 11, 1),
        period_end=date(2026, 12, 1),
        issued_at=_at(2, 6),
        due_date=date(2026, 11, 16),
        currency="EUR",
        lines=lines,
        subtotal_minor=3749,
        discount_minor=-300,
        tax_minor=655,
        total_minor=4104,
    )


def _builders() -> list[Callable[[], ev.Event]]:
    contact = Contact(name="Erika Mustermann", email="erika@example.com", phone="+4915112345678")
    return [
        lambda: ev.AccountOpenedEvent(
            **_envelope(1, "crm/onboarding", 1, 8),
            type="account.opened.v1",
            payload=AccountOpened(
                account_id=ACCOUNT,
                plan_id="mobile-plus-2026",
                billing_anchor_day=1,
                currency="EUR",
                jurisdiction="DE",
                contact=contact,
                opened_at=_at(1, 8),
            ),
        ),
        lambda: ev.UsageRecordedEvent(
            **_envelope(2, "mediation/switch-12", 1, 10),
            type="usage.recorded.v1",
            payload=UsageRecorded(
                account_id=ACCOUNT,
                record_id="cdr-20261101-000017",
                service=ServiceKind.VOICE,
                quantity=184,
                unit=UsageUnit.SECOND,
                started_at=_at(1, 9, 57),
                msisdn="4915112345678",
                destination="+4930901820",
            ),
        ),
        lambda: ev.InvoiceIssuedEvent(
            **_envelope(3, "billing/invoicer", 2, 6),
            type="invoice.issued.v1",
            payload=_invoice(),
        ),
        lambda: ev.InvoiceHeldEvent(
            **_envelope(18, "billing/invoicer", 2, 6),
            type="invoice.held.v1",
            payload=InvoiceHeld(
                account_id="acc-100077",
                invoice_id="inv-acc-100077-20261101",
                period_start=date(2026, 11, 1),
                period_end=date(2026, 12, 1),
                held_at=_at(2, 6),
                currency="EUR",
                total_minor=61_250,
                recent_totals_minor=(3_570, 3_570, 4_104),
                reason="total 61250 is over 5 times the median of the last 3 issued invoices; held for review",
            ),
        ),
        lambda: ev.CallStartedEvent(
            **_envelope(4, "care/acd", 3, 9),
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
        lambda: ev.CallAnsweredEvent(
            **_envelope(5, "care/acd", 3, 9),
            type="call.answered.v1",
            payload=CallAnswered(account_id=ACCOUNT, call_id=CALL, agent_id="agent-314"),
        ),
        lambda: ev.CallAbandonedEvent(
            **_envelope(6, "care/acd", 3, 11),
            type="call.abandoned.v1",
            payload=CallAbandoned(account_id="acc-100077", call_id="call-7f3aa0"),
        ),
        lambda: ev.DisputeOpenedEvent(
            **_envelope(7, "care/desk", 3, 9),
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
        *_dispute_step_builders(),
        lambda: ev.DisputeResolvedEvent(
            **_envelope(8, "care/desk", 3, 10),
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
        lambda: ev.DiscountGrantedEvent(
            **_envelope(9, "care/desk", 3, 10),
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
        lambda: ev.CallEndedEvent(
            **_envelope(10, "care/acd", 3, 10),
            type="call.ended.v1",
            payload=CallEnded(account_id=ACCOUNT, call_id=CALL, outcome=CallOutcome.RESOLVED),
        ),
        lambda: ev.AccountPlanChangedEvent(
            **_envelope(11, "crm/plans", 4, 12),
            type="account.plan_changed.v1",
            payload=AccountPlanChanged(account_id=ACCOUNT, plan_id="mobile-max-2026", effective_at=_at(5, 0)),
        ),
        lambda: ev.AccountClosedEvent(
            **_envelope(12, "crm/offboarding", 30, 17),
            type="account.closed.v1",
            payload=AccountClosed(account_id="acc-100077", closed_at=_at(30, 17), reason=ClosureReason.VOLUNTARY),
        ),
        *_task_builders(),
    ]


def _dispute_step_builders() -> list[Callable[[], ev.Event]]:
    dispute = {"account_id": ACCOUNT, "dispute_id": "dsp-5521", "invoice_id": INVOICE}
    return [
        lambda: ev.DisputeRoutedEvent(
            **_envelope(20, "care/disputes", 3, 9),
            type="dispute.routed.v1",
            payload=DisputeRouted(**dispute, task_id="tsk-2b7c0d9e8f1a2b3c4d5e", queue="disputes"),
        ),
        lambda: ev.DisputeInReviewEvent(
            **_envelope(21, "care/disputes", 3, 10),
            type="dispute.in_review.v1",
            payload=DisputeInReview(**dispute, agent_id="agent-314"),
        ),
        lambda: ev.CreditNoteIssuedEvent(
            **_envelope(22, "care/credit-notes", 3, 10),
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
                issued_at=_at(3, 10),
            ),
        ),
    ]


def _task_builders() -> list[Callable[[], ev.Event]]:
    task = {"task_id": TASK, "account_id": ACCOUNT, "queue": "billing"}
    return [
        lambda: ev.TaskRoutedEvent(
            **_envelope(13, "care/router", 3, 9),
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
        lambda: ev.TaskRequeuedEvent(
            **_envelope(14, "care/queues", 3, 9),
            type="task.requeued.v1",
            payload=TaskRequeued(**task, cause=RequeueCause.WIDENED, new_queue="tier2"),
        ),
        lambda: ev.TaskAcceptedEvent(
            **_envelope(15, "care/queues", 3, 9),
            type="task.accepted.v1",
            payload=TaskAccepted(**task, agent_id="agent-314", waited_ms=41_000),
        ),
        lambda: ev.TaskCompletedEvent(
            **_envelope(16, "care/queues", 3, 10),
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
                opened_at=_at(3, 9),
            ),
        ),
        lambda: ev.TaskCancelledEvent(
            **_envelope(17, "care/queues", 3, 11),
            type="task.cancelled.v1",
            payload=TaskCancelled(
                task_id="tsk-9e0f1a2b3c4d5e6f7a80",
                account_id="acc-100077",
                queue="billing",
                cause=CancelCause.CALLER_ABANDONED,
                waited_ms=95_000,
            ),
        ),
    ]


def example_events() -> dict[str, ev.Event]:
    """Keyed by type name, in the order a customer journey would produce them."""
    events = [build() for build in (*_builders(), *payment_builders())]
    return {event.type: event for event in events}
