"""Which invoice each payment paid: the named invoice first, then the oldest open invoices; the rest is credit.

A pure function of the set of ledger entries, so replaying or reordering events cannot change its answer:
- a credit note reduces its invoice, at most to zero; any excess is account credit;
- a payment's net amount (after its refunds and chargebacks) goes first to the invoice it names, up to what is
  open there, payments taken in event-time order; a refund or chargeback thereby reopens what its payment paid;
- everything not yet allocated (unnamed payments, what exceeded a named invoice, credit-note excess) pays the
  open invoices oldest first (by due date, then issue time, then id), the rest stays account credit and pays the
  next invoice as soon as it is in the ledger. A payment made before its invoice is issued is such credit.

Invariant: balance = sum of open amounts - credit = invoices - credit notes - payments + refunds + chargebacks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime

from billing.collections.rules.ledger import Entry, EntryKind, ordered


@dataclass(frozen=True)
class InvoiceStanding:
    invoice_id: str
    total_minor: int
    credited_minor: int  # credit notes on it, at most the total
    paid_minor: int  # payments allocated to it
    due_date: date | None
    issued_at: datetime

    @property
    def open_minor(self) -> int:
        return self.total_minor - self.credited_minor - self.paid_minor

    @property
    def payable_minor(self) -> int:
        """What is to be paid on it at all: the total less its credit notes."""
        return self.total_minor - self.credited_minor


@dataclass(frozen=True)
class Allocation:
    invoices: tuple[InvoiceStanding, ...]  # oldest first
    credit_minor: int  # money held for the account, not allocated to any invoice

    @property
    def open_minor(self) -> int:
        return sum(invoice.open_minor for invoice in self.invoices)

    @property
    def balance_minor(self) -> int:
        return self.open_minor - self.credit_minor

    def invoice(self, invoice_id: str) -> InvoiceStanding | None:
        return next((invoice for invoice in self.invoices if invoice.invoice_id == invoice_id), None)


def _age(invoice: InvoiceStanding) -> tuple[date, datetime, str]:
    return (invoice.due_date or invoice.issued_at.date(), invoice.issued_at, invoice.invoice_id)


def allocate(entries: Iterable[Entry]) -> Allocation:
    facts = ordered(entries)
    by_kind: dict[EntryKind, list[Entry]] = defaultdict(list)
    for entry in facts:
        by_kind[entry.kind].append(entry)
    invoices = {
        e.invoice_id or e.entry_id: InvoiceStanding(e.invoice_id or e.entry_id, e.amount_minor, 0, 0, e.due_date, e.at)
        for e in by_kind[EntryKind.INVOICE]
    }
    pool = 0  # money not yet allocated
    for note in by_kind[EntryKind.CREDIT_NOTE]:
        target = invoices.get(note.invoice_id or "")
        taken = min(note.amount_minor, target.payable_minor) if target else 0
        if target is not None:
            invoices[target.invoice_id] = replace(target, credited_minor=target.credited_minor + taken)
        pool += note.amount_minor - taken
    reversed_minor: dict[str, int] = defaultdict(int)
    for reversal in (*by_kind[EntryKind.REFUND], *by_kind[EntryKind.CHARGEBACK]):
        reversed_minor[reversal.payment_id or ""] += reversal.amount_minor
    payments = {payment.payment_id or payment.entry_id for payment in by_kind[EntryKind.PAYMENT]}
    # A reversal of a payment not in the ledger (refused by the shell) still counts, so the identity holds.
    pool -= sum(amount for payment_id, amount in reversed_minor.items() if payment_id not in payments)
    for payment in by_kind[EntryKind.PAYMENT]:
        net = payment.amount_minor - reversed_minor[payment.payment_id or payment.entry_id]
        target = invoices.get(payment.invoice_id or "")
        taken = max(0, min(net, target.open_minor)) if target else 0
        if target is not None and taken:
            invoices[target.invoice_id] = replace(target, paid_minor=target.paid_minor + taken)
        pool += net - taken
    oldest_first = sorted(invoices.values(), key=_age)
    standing = []
    for invoice in oldest_first:
        taken = max(0, min(pool, invoice.open_minor))
        pool -= taken
        standing.append(replace(invoice, paid_minor=invoice.paid_minor + taken) if taken else invoice)
    return Allocation(tuple(standing), pool)
