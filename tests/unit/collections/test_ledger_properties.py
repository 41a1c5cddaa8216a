"""Property tests of the ledger (issue 13): the balance identity, never over-allocating, replay and order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.collections.rules.allocation import allocate
from billing.collections.rules.ledger import SIGN, Entry, EntryKind, balance, entry_key

T0 = datetime(2027, 1, 1, tzinfo=UTC)


@st.composite
def ledgers(draw: st.DrawFn) -> list[Entry]:
    """Valid ledgers of one account: refunds and chargebacks never exceed what remains of their payment."""
    n_invoices = draw(st.integers(0, 5))
    invoices = [f"inv-{i}" for i in range(n_invoices)]
    entries: list[Entry] = []
    for invoice_id in invoices:
        day = draw(st.integers(0, 200))
        entries.append(
            Entry(
                entry_key(EntryKind.INVOICE, invoice_id),
                EntryKind.INVOICE,
                draw(st.integers(0, 50_000)),
                T0 + timedelta(days=day),
                invoice_id=invoice_id,
                due_date=date(2027, 1, 1) + timedelta(days=day + draw(st.integers(0, 30))),
            )
        )
    for i in range(draw(st.integers(0, 4))):
        target = draw(st.sampled_from(invoices)) if invoices else "inv-missing"
        entries.append(
            Entry(
                entry_key(EntryKind.CREDIT_NOTE, f"cn-{i}"),
                EntryKind.CREDIT_NOTE,
                draw(st.integers(1, 20_000)),
                T0 + timedelta(days=draw(st.integers(0, 250))),
                invoice_id=target,
            )
        )
    for i in range(draw(st.integers(0, 6))):
        payment_id = f"pay-{i}"
        amount = draw(st.integers(1, 60_000))
        named = draw(st.sampled_from([None, *invoices, "inv-unknown"]))
        at = T0 + timedelta(days=draw(st.integers(0, 250)), seconds=draw(st.integers(0, 86_399)))
        entries.append(
            Entry(entry_key(EntryKind.PAYMENT, payment_id), EntryKind.PAYMENT, amount, at, named, payment_id)
        )
        remaining = amount
        for j in range(draw(st.integers(0, 2))):
            if remaining == 0:
                break
            kind = draw(st.sampled_from([EntryKind.REFUND, EntryKind.CHARGEBACK]))
            taken = draw(st.integers(1, remaining))
            remaining -= taken
            later = at + timedelta(days=draw(st.integers(0, 60)))
            entries.append(Entry(entry_key(kind, f"{payment_id}-{j}"), kind, taken, later, payment_id=payment_id))
    return entries


def _sum(entries: list[Entry], kind: EntryKind) -> int:
    return sum(e.amount_minor for e in entries if e.kind is kind)


@settings(max_examples=300)
@given(ledgers())
def test_balance_is_invoices_minus_credit_notes_minus_payments_plus_refunds_and_chargebacks(entries) -> None:
    expected = (
        _sum(entries, EntryKind.INVOICE)
        - _sum(entries, EntryKind.CREDIT_NOTE)
        - _sum(entries, EntryKind.PAYMENT)
        + _sum(entries, EntryKind.REFUND)
        + _sum(entries, EntryKind.CHARGEBACK)
    )
    assert balance(entries) == expected
    assert allocate(entries).balance_minor == expected
    assert SIGN[EntryKind.PAYMENT] == -1


@settings(max_examples=300)
@given(ledgers())
def test_allocation_never_pays_an_invoice_beyond_its_total(entries) -> None:
    result = allocate(entries)
    for invoice in result.invoices:
        assert 0 <= invoice.credited_minor <= invoice.total_minor
        assert 0 <= invoice.paid_minor <= invoice.total_minor - invoice.credited_minor
        assert invoice.open_minor >= 0
    assert result.credit_minor >= 0  # valid ledgers never hold negative credit
    # Credit is only kept while nothing is open: money is never idle beside an unpaid invoice.
    assert result.credit_minor == 0 or result.open_minor == 0


@settings(max_examples=200)
@given(ledgers(), st.data())
def test_replaying_entries_changes_nothing(entries, data) -> None:
    replayed = entries + data.draw(st.lists(st.sampled_from(entries), max_size=10)) if entries else entries
    assert allocate(replayed) == allocate(entries)
    assert balance(replayed) == balance(entries)


@settings(max_examples=200)
@given(ledgers(), st.randoms(use_true_random=False))
def test_any_order_gives_the_same_balance_and_allocation(entries, rng) -> None:
    shuffled = list(entries)
    rng.shuffle(shuffled)
    assert allocate(shuffled) == allocate(entries)
    assert balance(shuffled) == balance(entries)
