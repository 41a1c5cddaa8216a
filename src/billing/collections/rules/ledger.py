"""One account's ledger: invoices, credit notes, payments, refunds and chargebacks, in integer minor units.

Every entry is a fact with a positive (or zero) amount and a sign given by its kind; the balance is their signed
sum: invoices minus credit notes minus payments plus refunds and chargebacks. An entry's id is derived from the
document it records (`payment:pay-1`), so the same document recorded twice is one entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class EntryKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    PAYMENT = "payment"
    REFUND = "refund"
    CHARGEBACK = "chargeback"


# What the entry does to what the customer owes.
SIGN: dict[EntryKind, int] = {
    EntryKind.INVOICE: 1,
    EntryKind.CREDIT_NOTE: -1,
    EntryKind.PAYMENT: -1,
    EntryKind.REFUND: 1,
    EntryKind.CHARGEBACK: 1,
}
# Entries at the same instant are listed invoices first, so a statement never shows money before its document.
_KIND_ORDER = {kind: i for i, kind in enumerate(EntryKind)}


@dataclass(frozen=True)
class Entry:
    entry_id: str  # entry_key(kind, source document id): the ledger's idempotency key
    kind: EntryKind
    amount_minor: int  # >= 0; the kind gives the sign
    at: datetime  # event time: issued, received, refunded, charged back
    invoice_id: str | None = None  # invoice: itself; credit note: the invoice it reduces; payment: the one named
    payment_id: str | None = None  # payment: itself; refund and chargeback: the payment they reverse
    due_date: date | None = None  # invoices only

    def __post_init__(self) -> None:
        if self.amount_minor < 0:
            raise ValueError(f"ledger amounts are never negative: {self.entry_id} has {self.amount_minor}")

    @property
    def signed_minor(self) -> int:
        return SIGN[self.kind] * self.amount_minor


def entry_key(kind: EntryKind, document_id: str) -> str:
    return f"{kind.value}:{document_id}"


def ordered(entries: Iterable[Entry]) -> tuple[Entry, ...]:
    """Each entry once (the first of an id wins), in event-time order; ties by kind, then id.

    The order depends only on the entries, never on the order they arrived in.
    """
    unique: dict[str, Entry] = {}
    for entry in entries:
        unique.setdefault(entry.entry_id, entry)
    return tuple(sorted(unique.values(), key=lambda e: (e.at, _KIND_ORDER[e.kind], e.entry_id)))


def balance(entries: Iterable[Entry]) -> int:
    """What the customer owes (negative: what the account holds as credit)."""
    return sum(entry.signed_minor for entry in ordered(entries))
