"""Retention discounts and goodwill credits granted by care agents."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from billing.contracts.base import AccountId, FrozenModel, Identifier, Text64
from billing.contracts.money import PositiveMoney

BasisPoints = Annotated[int, Field(strict=True, ge=1, le=10_000)]
InvoiceCount = Annotated[int, Field(strict=True, ge=1, le=24)]


class DiscountKind(StrEnum):
    PERCENT_NEXT_INVOICES = "percent_next_invoices"
    FIXED_NEXT_INVOICE = "fixed_next_invoice"
    CREDIT_NOTE = "credit_note"


class DiscountGranted(FrozenModel):
    """A discount or credit granted to an account within an agent's authority (or approved above it)."""

    account_id: AccountId
    grant_id: Identifier
    kind: DiscountKind
    percent_bp: BasisPoints | None = None
    invoice_count: InvoiceCount | None = None
    amount: PositiveMoney | None = None
    invoice_id: Identifier | None = None
    reason_code: Identifier
    criteria: tuple[Text64, ...] = Field(min_length=1)
    granted_by: Identifier
    approved_by: Identifier | None = None

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> Self:
        # Each kind is applied by a different billing path; a stray field from
        # another kind is a sign the producer mixed them up, so refuse it.
        problems = _kind_problems(self)
        if self.approved_by is not None and self.approved_by == self.granted_by:
            problems.append("approved_by must differ from granted_by (four-eyes rule)")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _kind_problems(grant: DiscountGranted) -> list[str]:
    percent = grant.kind is DiscountKind.PERCENT_NEXT_INVOICES
    credit_note = grant.kind is DiscountKind.CREDIT_NOTE
    checks = (
        ("percent_bp", grant.percent_bp, percent),
        ("invoice_count", grant.invoice_count, percent),
        ("amount", grant.amount, not percent),
        ("invoice_id", grant.invoice_id, credit_note),
    )
    return [
        _presence_problem(name, value is not None, required, grant.kind)
        for name, value, required in checks
        if (value is not None) != required
    ]


def _presence_problem(name: str, present: bool, required: bool, kind: str) -> str:
    if required and not present:
        return f"{name} is required for kind '{kind}'"
    return f"{name} is not allowed for kind '{kind}'"
