"""A stored invoice (ours from ``invoices``, or an upstream producer's from ``invoices_issued``) read back into what
the bill explanation and the invoice document need.

Our own invoices are read back into the draft the closer built (``InvoiceDraft``): the stored lines are the wire
lines (``events.wire_line``), whose ids are deterministic (``calculation.py``), so even a row stored before the
lines carried their details gives its line kinds, services and plans back. An upstream invoice has only what its
producer sent: no tax rate, no plan, maybe no service; its explanation is split by line kind and service
(``coarse_explanation``) and says so.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from billing.invoicing.rules.catalog import ServiceKind
from billing.invoicing.rules.cycles import Cycle
from billing.invoicing.rules.explanation_model import Cause, CauseKind, Explanation
from billing.invoicing.rules.invoice_model import InvoiceDraft, InvoiceLine, LineKind

OURS = "billing"  # issued by this system's closer
UPSTREAM = "upstream"  # published on the invoice topic by another producer

_TAX_TEXT = re.compile(r"(\d+(?:\.\d+)?) %")
_DAYS_TEXT = re.compile(r"(\d+) of (\d+) days")
_DRAFT_KIND = {
    "recurring": LineKind.RECURRING,
    "adjustment": LineKind.LATE_USAGE,
    "discount": LineKind.DISCOUNT,
    "credit": LineKind.CREDIT,
    "tax": LineKind.TAX,
}


@dataclass(frozen=True)
class StoredInvoice:
    invoice_id: str
    account_id: str
    origin: str  # OURS or UPSTREAM
    status: str  # issued, held, void (upstream: issued)
    invoice_number: str | None
    period_start: date
    period_end: date
    issued_at: datetime | None
    due_date: date | None
    currency: str
    lines: tuple[Mapping[str, Any], ...]  # the wire form (billing.contracts.invoices.InvoiceLine)
    total_minor: int
    is_final: bool = False

    def sum_of(self, *kinds: str) -> int:
        return sum(int(line["amount_minor"]) for line in self.lines if line["kind"] in kinds)

    @property
    def tax_line(self) -> Mapping[str, Any] | None:
        return next((line for line in self.lines if line["kind"] == "tax"), None)

    @property
    def tax_rate_bp(self) -> Decimal | None:
        """The tax line's rate; from its text ("tax 19 %") on a row stored before lines carried it."""
        line = self.tax_line
        if line is None:
            return None
        if line.get("tax_rate_bp") is not None:
            return Decimal(line["tax_rate_bp"])
        found = _TAX_TEXT.search(str(line.get("description", "")))
        return None if found is None else Decimal(found.group(1)).scaleb(2)

    @property
    def jurisdiction(self) -> str | None:
        line = self.tax_line
        return None if line is None else line.get("jurisdiction")


def _usage_kind(line_id: str) -> LineKind:
    if line_id.endswith(":included"):
        return LineKind.INCLUDED
    if line_id.endswith(":minimum"):
        return LineKind.MINIMUM
    return LineKind.USAGE


def _late_period(line: Mapping[str, Any]) -> Cycle | None:
    start, end = line.get("late_period_start"), line.get("late_period_end")
    if start is None or end is None:
        return None
    return Cycle(date.fromisoformat(str(start)), date.fromisoformat(str(end)))


def _days(line: Mapping[str, Any]) -> int | None:
    if line.get("days") is not None:
        return int(line["days"])
    found = _DAYS_TEXT.search(str(line.get("description", "")))
    return None if found is None else int(found.group(1))


def draft_line(line: Mapping[str, Any]) -> InvoiceLine:
    """One of our stored lines as the draft line the closer built (amounts and the fields the reader uses)."""
    kind = _usage_kind(line["line_id"]) if line["kind"] == "usage" else _DRAFT_KIND[line["kind"]]
    price = line.get("unit_price_minor")
    service = line.get("service")
    return InvoiceLine(
        line_id=line["line_id"],
        kind=kind,
        description=line["description"],
        amount_minor=int(line["amount_minor"]),
        units=_days(line) if kind is LineKind.RECURRING else line.get("quantity"),
        unit_price=None if price is None else Decimal(price),
        period=_late_period(line),
        service=None if service is None else ServiceKind(service),
        plan_id=line.get("plan_id"),
        plan_version=line.get("plan_version"),
        full_fee_minor=line.get("full_fee_minor"),
        allowance_units=line.get("allowance_units"),
        unit=line.get("unit"),
        tier=line.get("tier"),
        tier_from_units=line.get("tier_from_units"),
        tier_up_to_units=line.get("tier_up_to_units"),
        percent_bp=line.get("percent_bp"),
    )


def draft_of(invoice: StoredInvoice) -> InvoiceDraft:
    """Our stored invoice as the closer's draft (InvoiceError if its lines do not add up, as on the way in)."""
    carried = {
        str(line["grant_id"]): int(line["carried_forward_minor"])
        for line in invoice.lines
        if line.get("grant_id") and line.get("carried_forward_minor")
    }
    return InvoiceDraft(
        account_id=invoice.account_id,
        currency=invoice.currency,
        cycle=Cycle(invoice.period_start, invoice.period_end),
        is_final=invoice.is_final,
        lines=tuple(draft_line(line) for line in invoice.lines),
        subtotal_minor=invoice.sum_of("recurring", "usage", "adjustment"),
        discount_minor=invoice.sum_of("discount"),
        tax_minor=invoice.sum_of("tax"),
        credit_minor=invoice.sum_of("credit"),
        total_minor=invoice.total_minor,
        carry_forward=carried,
        tax_rate_bp=invoice.tax_rate_bp,
    )


def detailed(invoice: StoredInvoice | None) -> bool:
    """Whether the full explanation can read this invoice: ours (ids and details known) with a tax rate."""
    return invoice is None or (invoice.origin == OURS and (invoice.tax_line is None or invoice.tax_rate_bp is not None))


# -- an invoice lacking detail: the change split by line kind and service -----------------------------------

_COARSE_KIND = {
    "recurring": CauseKind.RECURRING_FEE,
    "usage": CauseKind.USAGE,
    "adjustment": CauseKind.LATE_USAGE,
    "discount": CauseKind.DISCOUNT_CHANGED,
    "credit": CauseKind.CREDIT,
    "tax": CauseKind.TAX,
}
COARSE_NOTE = (
    "explained by line kind and service only: {which} carries no plan, price or tax-rate detail, so usage,"
    " allowance, tier and price changes cannot be told apart"
)


def _groups(invoice: StoredInvoice | None) -> dict[tuple[str, str | None], int]:
    sums: dict[tuple[str, str | None], int] = defaultdict(int)
    for line in () if invoice is None else invoice.lines:
        sums[(line["kind"], line.get("service"))] += int(line["amount_minor"])
    return sums


def coarse_explanation(invoice: StoredInvoice, previous: StoredInvoice | None) -> Explanation:
    """The change of the total split by (line kind, service): exact, but only as fine as the lines are."""
    now, before = _groups(invoice), _groups(previous)
    causes = []
    for key in sorted(set(now) | set(before), key=lambda k: (k[0], k[1] or "")):
        change = now.get(key, 0) - before.get(key, 0)
        if not change:
            continue
        kind, service = key
        tax = change if kind == "tax" else 0
        label = f"{kind} ({service})" if service else kind
        causes.append(
            Cause(
                _COARSE_KIND[kind],
                change,
                change - tax,
                tax,
                f"{label} lines",
                service=None if service is None else ServiceKind(service),
            )
        )
    return Explanation(
        currency=invoice.currency,
        total_minor=invoice.total_minor,
        previous_total_minor=None if previous is None else previous.total_minor,
        causes=tuple(sorted(causes, key=lambda cause: (-abs(cause.amount_minor), cause.detail))),
    )


def limitation(invoice: StoredInvoice, previous: StoredInvoice | None) -> str | None:
    """Why an explanation is coarse, or None when it is the full one."""
    lacking = [
        f"{'this' if stored is invoice else 'the previous'} {stored.origin} invoice {stored.invoice_id}"
        for stored in (invoice, previous)
        if stored is not None and not detailed(stored)
    ]
    return COARSE_NOTE.format(which=" and ".join(lacking)) if lacking else None


def previous_of(invoice: StoredInvoice, candidates: Sequence[StoredInvoice]) -> StoredInvoice | None:
    """The account's issued invoice in the same currency whose period started last before this one's."""
    earlier = [
        other
        for other in candidates
        if other.period_start < invoice.period_start and other.status == "issued" and other.currency == invoice.currency
    ]
    return max(earlier, key=lambda other: (other.period_start, other.invoice_id), default=None)
