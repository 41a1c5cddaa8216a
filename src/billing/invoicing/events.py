"""From a pure-core invoice draft to the wire form: schema invoice lines and the invoice.issued.v1 event.

The pure core prints finer line kinds than the wire schema has (an allowance line, a minimum top-up, late
usage); each is mapped onto the schema's kinds here, in one place, so the lines stored on the invoice row, the
lines the customer sees and the lines on the topic are the same. Every event is built with the pydantic
model, so an invoice whose lines do not add up can never be published.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from billing.contracts.envelope import InvoiceHeldEvent, InvoiceIssuedEvent
from billing.contracts.invoices import InvoiceLineKind
from billing.contracts.usage import ServiceKind
from billing.invoicing.rules.invoice_model import InvoiceDraft, LineKind
from billing.invoicing.rules.invoice_model import InvoiceLine as DraftLine

EVENT_TYPE = "invoice.issued.v1"
HELD_EVENT_TYPE = "invoice.held.v1"
EVENT_SOURCE = "billing/invoicer"

_SCHEMA_KIND: dict[LineKind, InvoiceLineKind] = {
    LineKind.RECURRING: InvoiceLineKind.RECURRING,
    # An allowance line costs nothing but shows the customer what the fee covered: usage at zero.
    LineKind.INCLUDED: InvoiceLineKind.USAGE,
    LineKind.USAGE: InvoiceLineKind.USAGE,
    # The minimum top-up is part of what the service's usage costs, so it is a usage charge too.
    LineKind.MINIMUM: InvoiceLineKind.USAGE,
    # Late usage is a correction of an earlier period: the schema's adjustment kind, named by its period.
    LineKind.LATE_USAGE: InvoiceLineKind.ADJUSTMENT,
    LineKind.DISCOUNT: InvoiceLineKind.DISCOUNT,
    LineKind.TAX: InvoiceLineKind.TAX,
    LineKind.CREDIT: InvoiceLineKind.CREDIT,
}

# Usage line ids are "usage:<plan_id>:v<n>:<service>:<what>" and late-usage ids end in ":<service>"
# (see src/billing/invoicing/rules/calculation.py); the draft line carries no service field of its own.
_SERVICE_POSITION: dict[LineKind, int] = {
    LineKind.INCLUDED: -2,
    LineKind.USAGE: -2,
    LineKind.MINIMUM: -2,
    LineKind.LATE_USAGE: -1,
}
_MAX_DESCRIPTION = 200


def invoice_id_for(account_id: str, period_start: date) -> str:
    return f"inv-{account_id}-{period_start.year:04d}{period_start.month:02d}{period_start.day:02d}"


def event_id_for(invoice_id: str) -> str:
    # Derived from the invoice, so a re-sent event (relay crash) is the same event to every consumer.
    return f"invoice-issued:{invoice_id}"


def held_event_id_for(invoice_id: str) -> str:
    return f"invoice-held:{invoice_id}"


# Plain strings looked up once: a cycle close writes every line of every invoice through wire_line, and enum
# construction and .value lookups were a visible share of its time.
_SCHEMA_KIND_VALUE: dict[LineKind, str] = {kind: schema.value for kind, schema in _SCHEMA_KIND.items()}
_SERVICE_VALUES: frozenset[str] = frozenset(service.value for service in ServiceKind)


def _service_of(line: DraftLine) -> str | None:
    position = _SERVICE_POSITION.get(line.kind)
    if position is None:
        return None
    service = line.line_id.split(":")[position]
    if service not in _SERVICE_VALUES:
        raise ValueError(f"line {line.line_id} names no known service")
    return service


def _description(line: DraftLine, service: str | None) -> str:
    text = line.description if service is None or line.kind is LineKind.LATE_USAGE else f"{service} {line.description}"
    return text[:_MAX_DESCRIPTION]


def wire_line(line: DraftLine, draft: InvoiceDraft, jurisdiction: str | None = None) -> dict[str, Any]:
    """One draft line in the schema's InvoiceLine layout (validated with the event that carries it), with what a
    printed invoice needs of it; fields that do not apply are left out (the schema's default is null)."""
    service = _service_of(line)
    wired = {
        "line_id": line.line_id,
        "kind": _SCHEMA_KIND_VALUE[line.kind],
        "description": _description(line, service),
        "service": service,
        # Units only where they are units of a service; a recurring line's count is days, said in its text.
        "quantity": line.units if service is not None else None,
        "amount_minor": line.amount_minor,
    }
    details = _DETAILS.get(line.kind)
    if details is not None:
        wired.update((key, value) for key, value in details(line, draft, jurisdiction).items() if value is not None)
    return wired


def _decimal_text(value: Decimal | int | None) -> str | None:
    # "f": 0.0000001 prints as 0.0000001, not 1E-7; the schema reads exact decimal strings.
    return None if value is None else f"{Decimal(value):f}"


def _plan(line: DraftLine) -> dict[str, Any]:
    return {"plan_id": line.plan_id, "plan_version": line.plan_version, "unit": line.unit}


def _recurring(line: DraftLine, draft: InvoiceDraft, _jurisdiction: str | None) -> dict[str, Any]:
    return {
        **_plan(line),
        "unit": None,
        "days": line.units,
        "period_days": draft.cycle.days,
        "full_fee_minor": line.full_fee_minor,
    }


def _usage(line: DraftLine, _draft: InvoiceDraft, _jurisdiction: str | None) -> dict[str, Any]:
    return {
        **_plan(line),
        "unit_price_minor": _decimal_text(line.unit_price),
        "allowance_units": line.allowance_units,
        "tier": line.tier,
        "tier_from_units": line.tier_from_units,
        "tier_up_to_units": line.tier_up_to_units,
    }


def _late(line: DraftLine, _draft: InvoiceDraft, _jurisdiction: str | None) -> dict[str, Any]:
    period = line.period
    return {
        **_plan(line),
        "late_period_start": None if period is None else period.start,
        "late_period_end": None if period is None else period.end,
    }


def _grant(line: DraftLine, draft: InvoiceDraft, _jurisdiction: str | None) -> dict[str, Any]:
    grant_id = line.line_id.split(":", 1)[1]
    # A percentage is not a balance: nothing of it is carried; an amount grant says what it has left, 0 included.
    left = None if line.percent_bp is not None else draft.carry_forward.get(grant_id, 0)
    return {"grant_id": grant_id, "percent_bp": line.percent_bp, "carried_forward_minor": left}


def _tax(_line: DraftLine, draft: InvoiceDraft, jurisdiction: str | None) -> dict[str, Any]:
    return {"tax_rate_bp": _decimal_text(draft.tax_rate_bp), "jurisdiction": jurisdiction}


_DETAILS: dict[LineKind, Callable[[DraftLine, InvoiceDraft, str | None], dict[str, Any]]] = {
    LineKind.RECURRING: _recurring,
    LineKind.INCLUDED: _usage,
    LineKind.USAGE: _usage,
    LineKind.MINIMUM: _usage,
    LineKind.LATE_USAGE: _late,
    LineKind.DISCOUNT: _grant,
    LineKind.CREDIT: _grant,
    LineKind.TAX: _tax,
}


def wire_lines(draft: InvoiceDraft, jurisdiction: str | None = None) -> list[dict[str, Any]]:
    """The lines as stored on the invoice row and published on the event: plain dicts, JSON-ready (dates are
    date objects; orjson and pydantic write them as ISO strings). ``jurisdiction``: where the tax is due."""
    return [wire_line(line, draft, jurisdiction) for line in draft.lines]


class Totals(NamedTuple):
    subtotal_minor: int
    discount_minor: int  # discounts and credits together: the schema has one reducing total
    tax_minor: int
    total_minor: int


def draft_totals(draft: InvoiceDraft) -> Totals:
    return Totals(draft.subtotal_minor, draft.discount_minor + draft.credit_minor, draft.tax_minor, draft.total_minor)


def issued_event(
    *,
    invoice_id: str,
    account_id: str,
    invoice_number: str,
    period: tuple[date, date],
    issued_at: datetime,
    due_date: date,
    currency: str,
    lines: Sequence[dict[str, Any]],
    totals: Totals,
) -> InvoiceIssuedEvent:
    """The event for an issued invoice, validated by the pydantic model in one pass (lines included): the
    schema re-derives every total from the lines and refuses a mismatch, so a wrong invoice is never sent."""
    payload = {
        "account_id": account_id,
        "invoice_id": invoice_id,
        "invoice_number": invoice_number,
        "period_start": period[0],
        "period_end": period[1],
        "issued_at": issued_at,
        "due_date": due_date,
        "currency": currency,
        "lines": list(lines),
        **totals._asdict(),
    }
    return InvoiceIssuedEvent.model_validate(
        {
            "event_id": event_id_for(invoice_id),
            "type": EVENT_TYPE,
            "source": EVENT_SOURCE,
            "occurred_at": issued_at,
            "schema_version": 1,
            "payload": payload,
        }
    )


def held_event(
    *,
    invoice_id: str,
    account_id: str,
    period: tuple[date, date],
    held_at: datetime,
    currency: str,
    total_minor: int,
    recent_totals: Sequence[int],
    reason: str,
) -> InvoiceHeldEvent:
    """The event for an invoice held by the safety bound: what a reviewer's task needs, no number yet."""
    payload = {
        "account_id": account_id,
        "invoice_id": invoice_id,
        "period_start": period[0],
        "period_end": period[1],
        "held_at": held_at,
        "currency": currency,
        "total_minor": total_minor,
        "recent_totals_minor": list(recent_totals),
        "reason": reason[:500],
    }
    return InvoiceHeldEvent.model_validate(
        {
            "event_id": held_event_id_for(invoice_id),
            "type": HELD_EVENT_TYPE,
            "source": EVENT_SOURCE,
            "occurred_at": held_at,
            "schema_version": 1,
            "payload": payload,
        }
    )
