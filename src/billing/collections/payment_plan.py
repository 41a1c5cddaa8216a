"""A batch of payment events decided in memory, one after another, exactly as the per-record projection would.

`PaymentPlan.take` applies the rules of src/billing/collections/projection.py (the same refusals, word for word)
to the state the batch loaded (src/billing/collections/payment_batch.py) and records what to write: event ids to
claim, payment rows, ledger entries, reversed amounts and restorations. Each event sees the effects of the ones
before it in the batch, so a payment and its refund in one batch, or one payment id twice, end as they would have
one transaction at a time. A refused event changes nothing here: every check runs before the first change.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from billing.collections.rules.allocation import allocate
from billing.collections.rules.dunning import DunningPolicy
from billing.collections.rules.ledger import Entry, EntryKind, entry_key
from billing.collections.rules.overdue import overdue_invoices
from billing.collections.rules.payments import PaymentValues, payment_refusal, payment_values, reversal_refusal
from billing.contracts import Event
from billing.platform.decoding import RawMessage
from billing.platform.records import Rejected

# payment_id, account_id, status, amount_minor, currency, method, provider_reference, at, invoice_id: what a
# repeated payment is compared on (projection._new_payment).
REVERSALS = {"payment.refunded.v1": EntryKind.REFUND, "payment.charged_back.v1": EntryKind.CHARGEBACK}
LEDGER_TYPES = {"payment.received.v1", *REVERSALS}


@dataclass
class KnownPayment:
    values: PaymentValues
    reversed_minor: int


@dataclass
class Loaded:
    """What the batch reads before deciding, under the locks of its accounts' collections rows."""

    accounts: dict[str, tuple[str, str]]  # account_id -> (status, currency), from the account projection
    suspended: dict[str, bool]  # locked collections rows -> suspended now
    claimed: set[str]  # event ids applied before
    payments: dict[str, KnownPayment]  # the batch's payment ids already recorded
    reversal_entries: dict[str, tuple[str | None, int]]  # entry id -> (payment id, amount) of known reversals
    ledgers: dict[str, list[Entry]]  # the locked accounts' whole ledgers
    numbers: dict[str | None, str | None] = field(default_factory=dict)  # invoice id -> number (its document)
    sizes: dict[str, int] = field(default_factory=dict)  # account -> entries its ledger had as loaded
    created_rows: set[str] = field(default_factory=set)  # collections rows this batch created


@dataclass
class PaymentPlan:
    loaded: Loaded
    policy: DunningPolicy
    claims: list[tuple[str, str, str, int, int]] = field(default_factory=list)
    new_payments: list[tuple[object, ...]] = field(default_factory=list)  # PaymentValues + reason
    new_entries: list[tuple[str, str, Entry, str]] = field(default_factory=list)  # account, currency, entry, doc
    reversed_minor: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # payment id -> added
    touched: dict[str, str] = field(default_factory=dict)  # account -> currency: its standing is recomputed
    kept_rows: set[str] = field(default_factory=set)  # accounts a ledger event was applied to (row stays)
    restorations: list[tuple[str, str, datetime]] = field(default_factory=list)  # account, payment id, at
    applied: list[Event] = field(default_factory=list)
    duplicates: int = 0

    def take(self, message: RawMessage, event: Event) -> None:
        """Decide one event; `Rejected` refuses it (a dead letter), leaving the plan as it was."""
        if event.event_id in self.loaded.claimed:
            self.duplicates += 1
            return
        p: Any = event.payload  # a payment event's payload: the dispatch on event.type picks its fields
        currency = self._accepting(p.account_id, p.amount.currency)
        if event.type == "payment.received.v1":
            self._received(event, currency)
        elif event.type == "payment.failed.v1":
            self._new_payment(event, "failed", p.failed_at, p.reason)
        else:
            self._reversal(REVERSALS[event.type], event, currency)
        if event.type in LEDGER_TYPES:
            self.kept_rows.add(p.account_id)
        self.loaded.claimed.add(event.event_id)
        self.claims.append((event.event_id, event.type, message.topic, message.partition, message.offset))
        self.applied.append(event)

    def _accepting(self, account_id: str, currency: str) -> str:
        status, account_currency = self.loaded.accounts.get(account_id, (None, None))
        refusal = payment_refusal(status, account_currency, currency)
        if refusal is not None:
            raise Rejected(f"payment for account {account_id} refused: {refusal}")
        return currency

    def _received(self, event: Event, currency: str) -> None:
        p: Any = event.payload  # a payment event's payload: the dispatch on event.type picks its fields
        if not self._new_payment(event, "received", p.received_at, None):
            return
        entry = Entry(
            entry_key(EntryKind.PAYMENT, p.payment_id),
            EntryKind.PAYMENT,
            p.amount.amount_minor,
            p.received_at,
            invoice_id=p.invoice_id,
            payment_id=p.payment_id,
        )
        self._add_entry(p.account_id, currency, entry, p.provider_reference)
        # A suspended account is restored as soon as nothing is overdue any more, as of this payment's time: its
        # ledger up to this payment is allocated here (suspended accounts are few), the others once per batch.
        if self.loaded.suspended.get(p.account_id):
            allocation = allocate(self.loaded.ledgers[p.account_id])
            if not overdue_invoices(allocation.invoices, p.received_at, self.policy.grace_days):
                self.loaded.suspended[p.account_id] = False
                self.restorations.append((p.account_id, p.payment_id, p.received_at))

    def _new_payment(self, event: Event, status: str, at: datetime, reason: str | None) -> bool:
        """Record the payment; False when this payment id is already recorded with the same content (a repeat)."""
        p: Any = event.payload  # a payment event's payload: the dispatch on event.type picks its fields
        values = payment_values(p, status, at)
        known = self.loaded.payments.get(p.payment_id)
        if known is not None:
            if known.values != values:
                raise Rejected(f"payment {p.payment_id} was already recorded with other content ({known.values[2]})")
            return False
        self.loaded.payments[p.payment_id] = KnownPayment(values, 0)
        self.new_payments.append((*values, reason))
        return True

    def _reversal(self, kind: EntryKind, event: Event, currency: str) -> None:
        p: Any = event.payload  # a payment event's payload: the dispatch on event.type picks its fields
        reference = cast(str, p.refund_id if kind is EntryKind.REFUND else p.chargeback_id)
        at = p.refunded_at if kind is EntryKind.REFUND else p.charged_back_at
        entry = Entry(entry_key(kind, reference), kind, p.amount.amount_minor, at, payment_id=p.payment_id)
        known = self.loaded.reversal_entries.get(entry.entry_id)
        if known is not None:
            if known != (p.payment_id, p.amount.amount_minor):
                raise Rejected(f"{kind.value} {reference} was already recorded with other content")
            return
        paid = self.loaded.payments.get(p.payment_id)
        if paid is not None and (paid.values[1], paid.values[2]) != (p.account_id, "received"):
            paid = None  # only a payment received on this very account can be reversed
        refusal = reversal_refusal(
            paid.values[3] if paid else None,
            paid.values[4] if paid else None,
            paid.reversed_minor if paid else 0,
            p.amount.amount_minor,
            p.amount.currency,
        )
        if refusal is not None:
            raise Rejected(f"{kind.value} {reference} of payment {p.payment_id}: {refusal}")
        assert paid is not None  # no refusal means the payment is there
        paid.reversed_minor += p.amount.amount_minor
        self.reversed_minor[p.payment_id] += p.amount.amount_minor
        self.loaded.reversal_entries[entry.entry_id] = (p.payment_id, p.amount.amount_minor)
        self._add_entry(p.account_id, currency, entry, reference)

    def _add_entry(self, account_id: str, currency: str, entry: Entry, document: str) -> None:
        self.loaded.ledgers.setdefault(account_id, []).append(entry)
        self.new_entries.append((account_id, currency, entry, document))
        self.touched[account_id] = currency
