"""Ledger and allocation by hand-computed examples: partial, overpayment, payment first, refund, chargeback."""

from __future__ import annotations

from datetime import UTC, date, datetime

from billing.collections.rules.allocation import allocate
from billing.collections.rules.ledger import Entry, EntryKind, balance, entry_key
from billing.collections.rules.overdue import InvoiceState, aging, days_overdue, invoice_state
from billing.collections.rules.statement import statement


def at(month: int, day: int) -> datetime:
    return datetime(2027, month, day, 12, tzinfo=UTC)


def invoice(invoice_id: str, total: int, month: int, day: int = 1) -> Entry:
    return Entry(
        entry_key(EntryKind.INVOICE, invoice_id),
        EntryKind.INVOICE,
        total,
        at(month, day),
        invoice_id=invoice_id,
        due_date=date(2027, month, day + 14),
    )


def payment(payment_id: str, amount: int, month: int, day: int, invoice_id: str | None = None) -> Entry:
    return Entry(
        entry_key(EntryKind.PAYMENT, payment_id),
        EntryKind.PAYMENT,
        amount,
        at(month, day),
        invoice_id=invoice_id,
        payment_id=payment_id,
    )


def reversal(kind: EntryKind, ref: str, payment_id: str, amount: int, month: int, day: int) -> Entry:
    return Entry(entry_key(kind, ref), kind, amount, at(month, day), payment_id=payment_id)


def credit_note(ref: str, invoice_id: str, amount: int, month: int, day: int) -> Entry:
    return Entry(entry_key(EntryKind.CREDIT_NOTE, ref), EntryKind.CREDIT_NOTE, amount, at(month, day), invoice_id)


def test_partial_payment_leaves_the_rest_open_and_partially_paid() -> None:
    entries = [invoice("inv-1", 3_569, 3), payment("pay-1", 1_000, 3, 5)]
    result = allocate(entries)
    (inv,) = result.invoices
    assert (inv.paid_minor, inv.open_minor, result.credit_minor) == (1_000, 2_569, 0)
    assert invoice_state(inv, at(3, 6), grace_days=3) is InvoiceState.PARTIALLY_PAID
    # due 03-15 + 3 days grace: the 18th is the last day to pay, the 19th is day 1 overdue.
    assert invoice_state(inv, at(3, 18), grace_days=3) is InvoiceState.PARTIALLY_PAID
    assert invoice_state(inv, at(3, 19), grace_days=3) is InvoiceState.OVERDUE
    assert days_overdue(inv.due_date, at(4, 18), 3) == 31
    assert balance(entries) == result.balance_minor == 2_569


def test_overpayment_is_credit_consumed_by_the_next_invoice() -> None:
    first = [invoice("inv-1", 3_569, 3), payment("pay-1", 5_000, 3, 5)]
    result = allocate(first)
    assert (result.invoices[0].open_minor, result.credit_minor, result.balance_minor) == (0, 1_431, -1_431)
    second = allocate([*first, invoice("inv-2", 3_569, 4)])
    assert [i.open_minor for i in second.invoices] == [0, 3_569 - 1_431]
    assert (second.credit_minor, second.balance_minor) == (0, 2_138)


def test_a_payment_before_any_invoice_is_credit_then_pays_it() -> None:
    early = [payment("pay-0", 2_000, 2, 20)]
    assert allocate(early).credit_minor == 2_000
    later = allocate([*early, invoice("inv-1", 3_569, 3)])
    assert (later.invoices[0].paid_minor, later.credit_minor, later.balance_minor) == (2_000, 0, 1_569)


def test_oldest_first_unless_an_invoice_is_named() -> None:
    two = [invoice("inv-1", 1_000, 3), invoice("inv-2", 1_000, 4)]
    unnamed = allocate([*two, payment("pay-1", 1_500, 4, 5)])
    assert [i.open_minor for i in unnamed.invoices] == [0, 500]
    named = allocate([*two, payment("pay-1", 1_500, 4, 5, invoice_id="inv-2")])
    assert [i.open_minor for i in named.invoices] == [500, 0]


def test_refund_of_an_overpayment_takes_back_credit_only() -> None:
    entries = [invoice("inv-1", 3_569, 3), payment("pay-1", 5_000, 3, 5)]
    entries.append(reversal(EntryKind.REFUND, "re-1", "pay-1", 1_431, 3, 7))
    result = allocate(entries)
    assert (result.invoices[0].open_minor, result.credit_minor, result.balance_minor) == (0, 0, 0)


def test_chargeback_reopens_the_invoice_it_paid() -> None:
    entries = [invoice("inv-1", 3_569, 3), payment("pay-1", 3_569, 3, 5, invoice_id="inv-1")]
    assert allocate(entries).invoices[0].open_minor == 0
    entries.append(reversal(EntryKind.CHARGEBACK, "cb-1", "pay-1", 3_569, 3, 25))
    result = allocate(entries)
    assert (result.invoices[0].open_minor, result.invoices[0].paid_minor, result.balance_minor) == (3_569, 0, 3_569)
    assert invoice_state(result.invoices[0], at(3, 25), 3) is InvoiceState.OVERDUE


def test_credit_note_on_a_paid_invoice_becomes_credit() -> None:
    entries = [invoice("inv-1", 3_569, 3), payment("pay-1", 3_569, 3, 5), credit_note("cn-1", "inv-1", 1_000, 3, 9)]
    result = allocate(entries)
    inv = result.invoices[0]
    assert (inv.credited_minor, inv.paid_minor, inv.open_minor, result.credit_minor) == (1_000, 2_569, 0, 1_000)
    assert result.balance_minor == balance(entries) == -1_000


def test_statement_runs_to_the_balance() -> None:
    entries = [
        invoice("inv-1", 3_569, 3),
        payment("pay-1", 5_000, 3, 5),
        reversal(EntryKind.REFUND, "re-1", "pay-1", 431, 3, 7),
        invoice("inv-2", 3_569, 4),
    ]
    whole = statement(entries, at(1, 1), at(12, 1))
    assert whole.opening_minor == 0
    assert [line.balance_minor for line in whole.lines] == [3_569, -1_431, -1_000, 2_569]
    assert whole.closing_minor == balance(entries) == allocate(entries).balance_minor
    april = statement(entries, at(4, 1), at(5, 1))
    assert (april.opening_minor, [line.amount_minor for line in april.lines], april.closing_minor) == (
        -1_000,
        [3_569],
        2_569,
    )


def test_aging_bands_count_open_amounts_by_days_overdue() -> None:
    entries = [invoice("inv-1", 1_000, 1), invoice("inv-2", 2_000, 3), invoice("inv-3", 4_000, 4)]
    result = aging(allocate(entries).invoices, at(4, 20), grace_days=0)
    # inv-1 due 01-15: 95 days; inv-2 due 03-15: 36 days; inv-3 due 04-15: 5 days.
    assert result.open_minor == 7_000
    assert result.overdue_by_band == {"0-30": 4_000, "31-60": 2_000, "61-90": 0, "90+": 1_000}


def test_payment_refusals_name_the_reason() -> None:
    from billing.collections.rules.payments import payment_refusal, reversal_refusal

    assert payment_refusal(None, None, "EUR") == "unknown account"
    assert payment_refusal("active", "EUR", "USD").startswith("wrong currency")
    assert payment_refusal("active", "EUR", "EUR") is None
    assert reversal_refusal(None, None, 0, 100, "EUR").startswith("no such payment")
    assert reversal_refusal(5_000, "EUR", 4_000, 1_001, "EUR").startswith("larger than the payment: 1001 asked, 1000")
    assert reversal_refusal(5_000, "EUR", 4_000, 1_000, "EUR") is None
