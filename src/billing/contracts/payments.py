"""Payments from a payment provider or a bank feed, and the collection measures they end or cause.

Every amount is a positive Money: a negative or zero amount is malformed input and dead-lettered on decode. A
refund or chargeback names the payment it reverses; one larger than what remains of that payment is refused by
the collections projection (src/billing/collections/), which alone knows what remains.
"""

from __future__ import annotations

from enum import StrEnum

from billing.contracts.base import AccountId, FrozenModel, Identifier, Text128, Text500, UtcDatetime
from billing.contracts.money import PositiveMoney


class PaymentMethod(StrEnum):
    CARD = "card"
    BANK_TRANSFER = "bank_transfer"
    DIRECT_DEBIT = "direct_debit"
    CASH = "cash"
    OTHER = "other"


class PaymentReceived(FrozenModel):
    """Money received from the customer; allocated to the named invoice, else to the oldest open invoices, the
    rest kept as account credit for the next invoice."""

    account_id: AccountId
    payment_id: Identifier  # the provider's id: a second event with the same payment id is the same payment
    amount: PositiveMoney
    method: PaymentMethod
    provider_reference: Text128
    received_at: UtcDatetime
    invoice_id: Identifier | None = None  # the invoice the customer said it pays


class PaymentFailed(FrozenModel):
    """A payment attempt that did not bring money (declined card, returned direct debit): nothing is allocated."""

    account_id: AccountId
    payment_id: Identifier
    amount: PositiveMoney
    method: PaymentMethod
    provider_reference: Text128
    failed_at: UtcDatetime
    reason: Text500
    invoice_id: Identifier | None = None


class PaymentRefunded(FrozenModel):
    """Part or all of a received payment given back to the customer: the balance rises by the amount."""

    account_id: AccountId
    refund_id: Identifier
    payment_id: Identifier  # the payment it gives back (at most what remains of it)
    amount: PositiveMoney
    refunded_at: UtcDatetime
    reason: Text500 | None = None


class PaymentChargedBack(FrozenModel):
    """The customer's bank took a payment back: the balance rises and the invoices it paid reopen."""

    account_id: AccountId
    chargeback_id: Identifier
    payment_id: Identifier
    amount: PositiveMoney
    charged_back_at: UtcDatetime
    reason: Text500 | None = None


class AccountSuspended(FrozenModel):
    """Outgoing service suspended for non-payment (the dunning policy's suspend step); incoming and emergency
    calls stay on. Restored by account.restored.v1 once nothing is overdue."""

    account_id: AccountId
    invoice_id: Identifier  # the overdue invoice whose dunning step suspended the account
    overdue: PositiveMoney  # what was overdue on the account then
    suspended_at: UtcDatetime


class AccountRestored(FrozenModel):
    """Service restored after a suspension for non-payment: nothing is overdue any more."""

    account_id: AccountId
    payment_id: Identifier | None = None  # the payment that cleared the overdue amount, if one did
    restored_at: UtcDatetime
