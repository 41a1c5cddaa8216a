"""Issued invoices (every total is re-derived from the lines on parse) and invoices held for review."""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, StringConstraints, model_validator

from billing.contracts.base import (
    STORABLE,
    AccountId,
    Count,
    FrozenModel,
    Identifier,
    IsoDate,
    Text200,
    Text500,
    UtcDatetime,
)
from billing.contracts.money import CurrencyCode, MinorUnits, NonNegativeMinor, NonPositiveMinor
from billing.contracts.usage import ServiceKind

# Printed on the document, e.g. "INV-2026-000123"; numbering schemes vary by
# jurisdiction, so only the length is fixed.
InvoiceNumber = Annotated[str, StringConstraints(min_length=1, max_length=32), STORABLE]


class InvoiceLineKind(StrEnum):
    RECURRING = "recurring"
    USAGE = "usage"
    ADJUSTMENT = "adjustment"
    DISCOUNT = "discount"
    CREDIT = "credit"
    TAX = "tax"


REDUCING_KINDS = frozenset({InvoiceLineKind.DISCOUNT, InvoiceLineKind.CREDIT})
CHARGE_KINDS = frozenset({InvoiceLineKind.RECURRING, InvoiceLineKind.USAGE, InvoiceLineKind.ADJUSTMENT})


class InvoiceLine(FrozenModel):
    """One line of an invoice: recurring fee, usage, adjustment, discount, credit or tax."""

    line_id: Identifier
    kind: InvoiceLineKind
    description: Text200
    service: ServiceKind | None = None
    quantity: Count | None = None
    amount_minor: MinorUnits

    @model_validator(mode="after")
    def _sign_matches_kind(self) -> Self:
        # One sign convention (reductions negative, everything else not) lets
        # totals be plain sums with no per-kind sign flipping downstream.
        reducing = self.kind in REDUCING_KINDS
        if self.amount_minor < 0 and not reducing:
            raise ValueError(f"amount_minor may be negative only for discount/credit lines, not '{self.kind}'")
        if self.amount_minor > 0 and reducing:
            raise ValueError(f"amount_minor of a '{self.kind}' line must not be positive")
        return self


class InvoiceIssued(FrozenModel):
    """An invoice issued at cycle close, with its gap-free number, lines and totals in minor units."""

    account_id: AccountId
    invoice_id: Identifier
    invoice_number: InvoiceNumber
    period_start: IsoDate
    period_end: IsoDate
    issued_at: UtcDatetime
    due_date: IsoDate
    currency: CurrencyCode
    lines: tuple[InvoiceLine, ...] = Field(min_length=1)
    subtotal_minor: NonNegativeMinor
    discount_minor: NonPositiveMinor
    tax_minor: NonNegativeMinor
    total_minor: NonNegativeMinor

    @model_validator(mode="after")
    def _totals_add_up(self) -> Self:
        # The customer sees both the lines and the totals; if they disagree the
        # invoice is wrong no matter which number is right, so reject it.
        problems = _period_problems(self) + _line_id_problems(self) + _sum_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _period_problems(invoice: InvoiceIssued) -> list[str]:
    if invoice.period_end > invoice.period_start:
        return []
    return ["period_end must be after period_start"]


def _line_id_problems(invoice: InvoiceIssued) -> list[str]:
    counts = Counter(line.line_id for line in invoice.lines)
    duplicates = sorted(line_id for line_id, n in counts.items() if n > 1)
    return [f"lines have duplicate line_id {', '.join(duplicates)}"] if duplicates else []


def _sum_of(invoice: InvoiceIssued, kinds: frozenset[InvoiceLineKind]) -> int:
    return sum(line.amount_minor for line in invoice.lines if line.kind in kinds)


def _sum_problems(invoice: InvoiceIssued) -> list[str]:
    tax_kinds = frozenset({InvoiceLineKind.TAX})
    derived_total = invoice.subtotal_minor + invoice.discount_minor + invoice.tax_minor
    expected = (
        ("subtotal_minor", invoice.subtotal_minor, _sum_of(invoice, CHARGE_KINDS), "charge lines"),
        ("discount_minor", invoice.discount_minor, _sum_of(invoice, REDUCING_KINDS), "discount/credit lines"),
        ("tax_minor", invoice.tax_minor, _sum_of(invoice, tax_kinds), "tax lines"),
        ("total_minor", invoice.total_minor, derived_total, "subtotal + discount + tax"),
    )
    return [
        f"{name} is {stated} but {what} sum to {derived}"
        for name, stated, derived, what in expected
        if stated != derived
    ]


class InvoiceHeld(FrozenModel):
    """An invoice the safety bound held for a person to review instead of issuing it (no number yet).

    Published on the invoice topic in the same transaction that stores the held invoice, so the agent queues
    can route it as a review task; `billing invoices release ID` issues it afterwards, unchanged.
    """

    account_id: AccountId
    invoice_id: Identifier
    period_start: IsoDate
    period_end: IsoDate
    held_at: UtcDatetime
    currency: CurrencyCode
    total_minor: NonNegativeMinor
    # Totals of the account's recent issued invoices, oldest first: the history whose median it was compared with.
    recent_totals_minor: tuple[NonNegativeMinor, ...] = Field(max_length=24)
    reason: Text500

    @model_validator(mode="after")
    def _period_is_forward(self) -> Self:
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        return self
