"""Credit notes: documents that reduce one issued invoice, published beside invoices."""

from __future__ import annotations

from enum import StrEnum

from billing.contracts.base import AccountId, FrozenModel, Identifier, Text500, UtcDatetime
from billing.contracts.invoices import InvoiceNumber
from billing.contracts.money import PositiveMoney


class CreditSource(StrEnum):
    DISPUTE = "dispute"  # a dispute resolved in the customer's favour
    GOODWILL = "goodwill"  # a credit_note discount granted by an agent


class CreditNoteIssued(FrozenModel):
    """A credit note issued on an invoice (gap-free numbered per year), from a dispute or a goodwill credit grant."""

    account_id: AccountId
    credit_note_id: Identifier
    credit_note_number: InvoiceNumber  # gap-free per series and year, e.g. "CN-2026-000007"
    invoice_id: Identifier  # the invoice it reduces
    grant_id: Identifier  # the discount.granted.v1 it documents
    source: CreditSource
    dispute_id: Identifier | None = None
    amount: PositiveMoney
    reason: Text500
    issued_by: Identifier
    issued_at: UtcDatetime
