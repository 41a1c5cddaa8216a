"""How much of an invoice can still be credited, and whether a proposed credit fits.

Decision (documented in docs/credits.md): what remains creditable on an invoice is its total minus every credit
note already issued against it (dispute credits and goodwill credit notes alike). Amounts held by other open
disputes are NOT subtracted: a hold is a claim, not a decision, and reserving it would let a duplicate or
inflated dispute block a legitimate credit. The cap is enforced when a credit is decided, under a lock on
the invoice, so concurrent credits can never add up to more than the invoice.

A dispute's own credit is further capped by the amount disputed. Pure; amounts in integer minor units.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InvoiceCredit:
    """An issued invoice as far as crediting is concerned."""

    invoice_id: str
    currency: str
    total_minor: int
    credited_minor: int  # sum of credit notes already issued against it

    def __post_init__(self) -> None:
        if self.total_minor < 0 or self.credited_minor < 0:
            raise ValueError(f"{self.invoice_id}: amounts must not be negative")

    @property
    def remaining_minor(self) -> int:
        return max(0, self.total_minor - self.credited_minor)


@dataclass(frozen=True)
class CreditRefusal:
    rule: str  # "credit_currency" | "creditable_remaining" | "disputed_amount"
    reason: str


def check_credit(
    invoice: InvoiceCredit, amount_minor: int, currency: str, disputed_minor: int | None = None
) -> CreditRefusal | None:
    """None when ``amount_minor`` may be credited on ``invoice``; otherwise which rule refuses and why."""
    if amount_minor < 1:
        raise ValueError(f"a credit must be positive, got {amount_minor}")
    if currency != invoice.currency:
        return CreditRefusal(
            "credit_currency", f"credit_currency: invoice {invoice.invoice_id} is in {invoice.currency}, not {currency}"
        )
    if disputed_minor is not None and amount_minor > disputed_minor:
        return CreditRefusal(
            "disputed_amount", f"disputed_amount: credit {amount_minor} exceeds the {disputed_minor} disputed"
        )
    if amount_minor > invoice.remaining_minor:
        return CreditRefusal(
            "creditable_remaining",
            # The invoice's total is not repeated here: a refusal is no way to learn an account's figures.
            f"creditable_remaining: credit {amount_minor} exceeds the {invoice.remaining_minor} still creditable"
            f" on invoice {invoice.invoice_id}",
        )
    return None


def after_credit(invoice: InvoiceCredit, amount_minor: int) -> InvoiceCredit:
    refusal = check_credit(invoice, amount_minor, invoice.currency)
    if refusal is not None:
        raise ValueError(refusal.reason)
    return InvoiceCredit(
        invoice.invoice_id, invoice.currency, invoice.total_minor, invoice.credited_minor + amount_minor
    )
