"""One account's ledger: invoices, credit notes, payments, refunds and chargebacks, in integer minor units.

Every entry is a fact with a positive (or zero) amount and a sign given by its kind; the balance is their signed
sum: invoices minus credit notes minus payments plus refunds and chargebacks. An entry's id is derived from the
document it records (`payment:pay-1`), so the same document recorded twice is one entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from typing import NamedTuple


class EntryKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    PAYMENT = "payment"
    REFUND = "refund"
    CHARGEBACK = "chargeback"


# A stored kind by its text: a dict lookup is many times cheaper than EntryKind(text), and a payment batch reads
# every entry of every account it touches.
KIND_OF: dict[str, EntryKind] = {kind.value: kind for kind in EntryKind}

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


class Entry(NamedTuple):
    """One ledger fact. A NamedTuple, not a dataclass: a payment batch reads the whole ledger of every account it
    touches, and building a tuple costs a third of a frozen dataclass. Amounts are never negative (the kind gives
    the sign): the events' models refuse a negative amount and the ledger table's CHECK refuses to store one."""

    entry_id: str  # entry_key(kind, source document id): the ledger's idempotency key
    kind: EntryKind
    amount_minor: int  # >= 0; the kind gives the sign
    at: datetime  # event time: issued, received, refunded, charged back
    invoice_id: str | None = None  # invoice: itself; credit note: the invoice it reduces; payment: the one named
    payment_id: str | None = None  # payment: itself; refund and chargeback: the payment they reverse
    due_date: date | None = None  # invoices only

    @property
    def signed_minor(self) -> int:
        return SIGN[self.kind] * self.amount_minor


def entry_key(kind: EntryKind, document_id: str) -> str:
    return _PREFIX[kind] + document_id


_PREFIX = {kind: f"{kind.value}:" for kind in EntryKind}


def ordered(entries: Iterable[Entry]) -> tuple[Entry, ...]:
    """Each entry once (the first of an id wins), in event-time order; ties by kind, then id.

    The order depends only on the entries, never on the order they arrived in.
    """
    return tuple(sorted(unique_entries(entries), key=lambda e: (e.at, _KIND_ORDER[e.kind], e.entry_id)))


def unique_entries(entries: Iterable[Entry]) -> Iterable[Entry]:
    """Each entry once: the first of an id wins (a document recorded twice is one entry)."""
    unique: dict[str, Entry] = {}
    for entry in entries:
        unique.setdefault(entry.entry_id, entry)
    return unique.values()


def balance(entries: Iterable[Entry]) -> int:
    """What the customer owes (negative: what the account holds as credit)."""
    return sum(entry.signed_minor for entry in ordered(entries))
