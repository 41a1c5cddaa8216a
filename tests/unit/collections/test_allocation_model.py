"""`allocate` takes entries in any order for speed; this plain model takes them one by one in event-time order,
as the rules are worded (the named invoice first, then the oldest open invoices, the rest credit). The two must
agree on every ledger: the fast one may skip the sort only because the order never changes the answer."""

from __future__ import annotations

from hypothesis import given, settings

from billing.collections.rules.allocation import Allocation, InvoiceStanding, allocate
from billing.collections.rules.ledger import Entry, EntryKind, ordered
from tests.unit.collections.test_ledger_properties import ledgers


def allocate_in_event_order(entries: list[Entry]) -> Allocation:
    invoices: dict[str, list[int]] = {}  # id -> [total, credited, paid]
    documents: dict[str, Entry] = {}
    pool = 0
    facts = ordered(entries)
    reversed_minor: dict[str, int] = {}
    for entry in facts:
        if entry.kind in (EntryKind.REFUND, EntryKind.CHARGEBACK):
            reversed_minor[entry.payment_id or ""] = reversed_minor.get(entry.payment_id or "", 0) + entry.amount_minor
    payments = {e.payment_id or e.entry_id for e in facts if e.kind is EntryKind.PAYMENT}
    pool -= sum(amount for payment_id, amount in reversed_minor.items() if payment_id not in payments)
    for kind in (EntryKind.INVOICE, EntryKind.CREDIT_NOTE, EntryKind.PAYMENT):
        for entry in (e for e in facts if e.kind is kind):
            if kind is EntryKind.INVOICE:
                key = entry.invoice_id or entry.entry_id
                invoices[key], documents[key] = [entry.amount_minor, 0, 0], entry
                continue
            amount = entry.amount_minor
            if kind is EntryKind.PAYMENT:
                amount -= reversed_minor.get(entry.payment_id or entry.entry_id, 0)
            target = invoices.get(entry.invoice_id or "")
            taken = 0
            if target is not None:
                room = target[0] - target[1] - (target[2] if kind is EntryKind.PAYMENT else 0)
                taken = max(0, min(amount, room))
                target[1 if kind is EntryKind.CREDIT_NOTE else 2] += taken
            pool += amount - taken
    by_age = sorted(
        invoices,
        key=lambda i: (documents[i].due_date or documents[i].at.date(), documents[i].at, i),
    )
    standing = []
    for invoice_id in by_age:
        total, credited, paid = invoices[invoice_id]
        taken = max(0, min(pool, total - credited - paid))
        pool -= taken
        doc = documents[invoice_id]
        standing.append(InvoiceStanding(invoice_id, total, credited, paid + taken, doc.due_date, doc.at))
    return Allocation(tuple(standing), pool)


@settings(max_examples=400)
@given(ledgers())
def test_allocate_agrees_with_the_rules_taken_in_event_order(entries) -> None:
    assert allocate(entries) == allocate_in_event_order(entries)
