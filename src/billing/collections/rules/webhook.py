"""A payment provider's webhook delivery: its signature checked, its payload turned into a payment event.

Stripe-style (docs/collections.md): the signature header is `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`, each v1 an
HMAC-SHA256 of `<t>.<raw body>` keyed with the shared secret as the operator gave it. Signing the timestamp with
the body means a captured delivery cannot be replayed under a fresh timestamp; several v1 values are accepted so
the provider can roll its secret. Digests are compared in constant time.

The payload is the provider's event: `id` (the provider's event id, the idempotency key), `type`, `created`
(unix seconds) and `data.object`. Handled types, each into one event of billing.payments.v1:
`payment_intent.succeeded` -> payment.received.v1, `payment_intent.payment_failed` -> payment.failed.v1,
`refund.created` -> payment.refunded.v1. Every other type is acknowledged and ignored (a 4xx would only make the
provider retry it). Amounts are minor units, as the provider sends them; the account is `metadata.account_id`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from billing.contracts import envelope as ev
from billing.contracts.money import Money
from billing.contracts.payments import PaymentFailed, PaymentMethod, PaymentReceived, PaymentRefunded

WEBHOOK_SOURCE = "collections/payment-webhook"
HANDLED_TYPES = ("payment_intent.succeeded", "payment_intent.payment_failed", "refund.created")
_METHODS = {
    "card": PaymentMethod.CARD,
    "sepa_debit": PaymentMethod.DIRECT_DEBIT,
    "bacs_debit": PaymentMethod.DIRECT_DEBIT,
    "us_bank_account": PaymentMethod.DIRECT_DEBIT,
    "customer_balance": PaymentMethod.BANK_TRANSFER,
    "bank_transfer": PaymentMethod.BANK_TRANSFER,
}


class WebhookRefused(ValueError):
    """The delivery cannot be accepted; the message is the one sentence the provider is answered."""


def signature_refusal(header: str | None, body: bytes, secret: str, now_s: float, tolerance_s: int) -> str | None:
    """Why the signature header does not prove this body came from the provider now; None when it does."""
    if not header:
        return "the signature header (t=...,v1=...) is missing."
    parts = [part.partition("=") for part in header.split(",")]
    stamps = [value.strip() for key, _, value in parts if key.strip() == "t"]
    signatures = [value.strip() for key, _, value in parts if key.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return "the signature header carries no timestamp (t=<unix seconds>)."
    if not signatures:
        return "the signature header carries no v1 signature."
    stamp = int(stamps[0])
    if abs(now_s - stamp) > tolerance_s:
        return f"the signed timestamp is more than {tolerance_s} seconds from now: the delivery is refused as stale."
    expected = hmac.new(secret.encode(), stamps[0].encode() + b"." + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, given.lower()) for given in signatures):
        return "no v1 signature matches the body under the shared secret."
    return None


def sign(body: bytes, secret: str, stamp: int) -> str:
    """The header a provider would send (for tests and `billing` tooling that simulates the provider)."""
    digest = hmac.new(secret.encode(), str(stamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


@dataclass(frozen=True)
class ProviderEvent:
    provider_event_id: str
    provider_type: str
    event: ev.Event | None  # None: a type this system does not handle (acknowledged, ignored)


def provider_event(document: object) -> ProviderEvent:
    """The payment event a provider's event document means; WebhookRefused when it is malformed."""
    if not isinstance(document, Mapping):
        raise WebhookRefused("the body is not a JSON object.")
    event_id, kind, created = document.get("id"), document.get("type"), document.get("created")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 100:
        raise WebhookRefused("the event has no id (a string of at most 100 characters).")
    if not isinstance(kind, str) or not kind:
        raise WebhookRefused("the event has no type.")
    if kind not in HANDLED_TYPES:
        return ProviderEvent(event_id, kind, None)
    if type(created) is not int or created <= 0:
        raise WebhookRefused("the event has no created time (unix seconds).")
    data = document.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        raise WebhookRefused("the event has no data.object.")
    at = datetime.fromtimestamp(created, UTC)
    try:
        return ProviderEvent(event_id, kind, _event(event_id, kind, obj, at))
    except (ValidationError, KeyError, TypeError, ValueError) as wrong:
        raise WebhookRefused(f"the {kind} object is malformed: {_first_error(wrong)}.") from None


def _event(event_id: str, kind: str, obj: Mapping[str, Any], at: datetime) -> ev.Event:
    metadata = obj.get("metadata") or {}
    account_id = metadata["account_id"]
    amount = Money(amount_minor=obj["amount"], currency=str(obj["currency"]).upper())
    envelope = {"event_id": f"webhook:{event_id}", "source": WEBHOOK_SOURCE, "occurred_at": at, "schema_version": 1}
    if kind == "refund.created":
        return ev.PaymentRefundedEvent(
            **envelope,
            type="payment.refunded.v1",
            payload=PaymentRefunded(
                account_id=account_id,
                refund_id=obj["id"],
                payment_id=obj["payment_intent"],
                amount=amount,
                refunded_at=at,
                reason=obj.get("reason"),
            ),
        )
    types = obj.get("payment_method_types") or []
    method = _METHODS.get(types[0] if types else "", PaymentMethod.OTHER)
    common = {
        "account_id": account_id,
        "payment_id": obj["id"],
        "amount": amount,
        "method": method,
        "provider_reference": event_id,
        "invoice_id": metadata.get("invoice_id"),
    }
    if kind == "payment_intent.succeeded":
        return ev.PaymentReceivedEvent(
            **envelope, type="payment.received.v1", payload=PaymentReceived(**common, received_at=at)
        )
    error = obj.get("last_payment_error") or {}
    reason = error.get("message") or error.get("code") or "declined"
    return ev.PaymentFailedEvent(
        **envelope, type="payment.failed.v1", payload=PaymentFailed(**common, failed_at=at, reason=str(reason)[:500])
    )


def _first_error(wrong: Exception) -> str:
    if isinstance(wrong, ValidationError):
        first = wrong.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc']) or 'value'}: {first['msg']}"
    if isinstance(wrong, KeyError):
        return f"{wrong.args[0]} is missing"
    return str(wrong)
