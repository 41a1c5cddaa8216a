"""Issued invoices (every total is re-derived from the lines on parse) and invoices held for review."""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, StringConstraints, model_validator

from billing.contracts.accounts import Jurisdiction
from billing.contracts.base import (
    STORABLE,
    AccountId,
    Count,
    FrozenModel,
    Identifier,
    IsoDate,
    Text64,
    Text200,
    Text500,
    UtcDatetime,
)
from billing.contracts.money import CurrencyCode, MinorUnits, NonNegativeMinor, NonPositiveMinor
from billing.contracts.usage import ServiceKind

# Printed on the document, e.g. "INV-2026-000123"; numbering schemes vary by
# jurisdiction, so only the length is fixed.
InvoiceNumber = Annotated[str, StringConstraints(min_length=1, max_length=32), STORABLE]
# An exact decimal written as a string ("0.15", "1497.5"): a JSON number would be read as a float by most readers,
# and a float cannot hold most decimal prices or a rate such as 14.975 %.
DecimalText = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,18}(\.[0-9]{1,18})?$")]
BasisPoints = Annotated[int, Field(strict=True, ge=0, le=10_000)]
PlanVersion = Annotated[int, Field(strict=True, ge=1, le=1_000_000)]


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
    """One line of an invoice: recurring fee, usage, adjustment, discount, credit or tax.

    The fields after ``amount_minor`` are what a printed invoice needs beyond the amount, each optional (absent
    where it does not apply, and from producers that do not send it): they explain the amount, never change it.
    """

    line_id: Identifier
    kind: InvoiceLineKind
    description: Text200
    service: ServiceKind | None = None
    quantity: Count | None = None
    amount_minor: MinorUnits
    plan_id: Identifier | None = Field(
        None, description="The price plan that priced the line (fee, usage, late usage)."
    )
    plan_version: PlanVersion | None = Field(None, description="That plan's price version.")
    unit: Text64 | None = Field(None, description="Unit of `quantity` as rated: second, message, byte.")
    unit_price_minor: DecimalText | None = Field(
        None, description="Minor units per unit (a usage tier's price), an exact decimal string."
    )
    days: Count | None = Field(None, description="Recurring fee: days of the period on this plan version.")
    period_days: Count | None = Field(None, description="Recurring fee: days of the whole period (16 of 31).")
    full_fee_minor: NonNegativeMinor | None = Field(None, description="Recurring fee for a whole period.")
    allowance_units: Count | None = Field(
        None, description="Included usage: the allowance (prorated by days), of which `quantity` was used."
    )
    tier: Annotated[int, Field(strict=True, ge=1, le=100)] | None = Field(None, description="Usage tier, from 1.")
    tier_from_units: Count | None = Field(None, description="The tier's band: units beyond the allowance from...")
    tier_up_to_units: Count | None = Field(None, description="...up to (absent on the open last tier).")
    late_period_start: IsoDate | None = Field(None, description="Late usage: start of the period it belongs to.")
    late_period_end: IsoDate | None = Field(None, description="Late usage: end (exclusive) of that period.")
    grant_id: Identifier | None = Field(None, description="Discount or credit: the grant applied.")
    percent_bp: BasisPoints | None = Field(None, description="Percent discount: its rate in basis points.")
    carried_forward_minor: NonNegativeMinor | None = Field(
        None, description="Discount or credit: what is left of the grant for later invoices."
    )
    tax_rate_bp: DecimalText | None = Field(None, description="Tax line: the rate in basis points (1900 = 19 %).")
    jurisdiction: Jurisdiction | None = Field(None, description="Tax line: where the tax is due (DE, US-CA).")

    @model_validator(mode="after")
    def _sign_matches_kind(self) -> Self:
        # One sign convention (reductions negative, everything else not) lets
        # totals be plain sums with no per-kind sign flipping downstream.
        reducing = self.kind in REDUCING_KINDS
        if self.amount_minor < 0 and not reducing:
            raise ValueError(f"amount_minor may be negative only for discount/credit lines, not '{self.kind}'")
        if self.amount_minor > 0 and reducing:
            raise ValueError(f"amount_minor of a '{self.kind}' line must not be positive")
        if self.late_period_start and self.late_period_end and self.late_period_end <= self.late_period_start:
            raise ValueError("late_period_end must be after late_period_start")
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
