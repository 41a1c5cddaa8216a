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
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from billing.collections.rules.ledger import Entry, EntryKind, unique_entries


class InvoiceStanding(NamedTuple):
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


def _age(item: tuple[str, Entry]) -> tuple[date, datetime, str]:
    """Oldest first: by due date, then issue time, then id (an invoice's id and its ledger entry)."""
    invoice_id, invoice = item
    return (invoice.due_date or invoice.at.date(), invoice.at, invoice_id)


def allocate(entries: Iterable[Entry]) -> Allocation:
    # No sort by event time is needed: what each step takes is capped by a sum (what a named invoice still has
    # open, what a credit note can reduce), so the totals do not depend on the order entries are taken in; only
    # the oldest-first pour below orders anything, and it orders invoices by age. Hot: every touched account of
    # a payment batch is allocated once (docs/benchmark.md), hence plain dicts of amounts, not dataclass copies.
    invoices: list[Entry] = []
    notes: list[Entry] = []
    payments: list[Entry] = []
    reversed_minor: dict[str, int] = defaultdict(int)
    for entry in unique_entries(entries):
        kind = entry.kind
        if kind is EntryKind.INVOICE:
            invoices.append(entry)
        elif kind is EntryKind.PAYMENT:
            payments.append(entry)
        elif kind is EntryKind.CREDIT_NOTE:
            notes.append(entry)
        else:
            reversed_minor[entry.payment_id or ""] += entry.amount_minor
    totals = {e.invoice_id or e.entry_id: e for e in invoices}
    credited: dict[str, int] = defaultdict(int)
    paid: dict[str, int] = defaultdict(int)
    pool = 0  # money not yet allocated
    for note in notes:
        target = totals.get(note.invoice_id or "")
        taken = min(note.amount_minor, target.amount_minor - credited[note.invoice_id or ""]) if target else 0
        if taken:
            credited[note.invoice_id or ""] += taken
        pool += note.amount_minor - taken
    if reversed_minor:
        # A reversal of a payment not in the ledger (refused by the shell) still counts, so the identity holds.
        known = {payment.payment_id or payment.entry_id for payment in payments}
        pool -= sum(amount for payment_id, amount in reversed_minor.items() if payment_id not in known)
    for payment in payments:
        net = payment.amount_minor - reversed_minor.get(payment.payment_id or payment.entry_id, 0)
        named = payment.invoice_id
        target = totals.get(named) if named else None
        taken = 0
        if target is not None and named is not None:
            taken = max(0, min(net, target.amount_minor - credited[named] - paid[named]))
            paid[named] += taken
        pool += net - taken
    standing = []
    for invoice_id, invoice in sorted(totals.items(), key=_age):
        credit_noted, named_paid = credited.get(invoice_id, 0), paid.get(invoice_id, 0)
        taken = max(0, min(pool, invoice.amount_minor - credit_noted - named_paid))
        pool -= taken
        total = invoice.amount_minor
        standing.append(
            InvoiceStanding(invoice_id, total, credit_noted, named_paid + taken, invoice.due_date, invoice.at)
        )
    return Allocation(tuple(standing), pool)
