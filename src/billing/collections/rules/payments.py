"""What makes a payment event unacceptable: the refusal reasons the projection dead-letters it with."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def payment_refusal(account_status: str | None, account_currency: str | None, currency: str) -> str | None:
    if account_status is None or account_currency is None:
        return "unknown account"
    if currency != account_currency:
        return f"wrong currency: {currency} paid to an account billed in {account_currency}"
    return None


def reversal_refusal(
    paid_minor: int | None, paid_currency: str | None, reversed_minor: int, amount_minor: int, currency: str
) -> str | None:
    """A refund or chargeback of `amount_minor`, `reversed_minor` of the payment being reversed already."""
    if paid_minor is None or paid_currency is None:
        return "no such payment received on this account"
    if currency != paid_currency:
        return f"wrong currency: {currency} for a payment in {paid_currency}"
    remaining = paid_minor - reversed_minor
    if amount_minor > remaining:
        return f"larger than the payment: {amount_minor} asked, {remaining} of {paid_minor} remains"
    return None


# The columns a payment is stored with, in order; the same tuple decides whether a repeated payment id carries the
# same content (a redelivery) or other content (refused).
PaymentValues = tuple[str, str, str, int, str, str, str, datetime, str | None]


def payment_values(payload: Any, status: str, at: datetime) -> PaymentValues:
    """A payment event's stored columns (any of the four payment events' payloads: they share these fields)."""
    return (
        payload.payment_id,
        payload.account_id,
        status,
        payload.amount.amount_minor,
        payload.amount.currency,
        str(payload.method),
        payload.provider_reference,
        at,
        payload.invoice_id,
    )
