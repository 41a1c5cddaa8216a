"""The payment webhook's pure rules: the Stripe-style signature over `<t>.<body>` and the provider's event turned
into billing.payments.v1 events."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from billing.collections.rules.webhook import WebhookRefused, provider_event, sign, signature_refusal

SECRET = "whsec_test_0123456789"
NOW = 1_800_000_000
BODY = b'{"id": "evt_1"}'


def test_a_fresh_signature_of_the_body_is_accepted() -> None:
    assert signature_refusal(sign(BODY, SECRET, NOW - 10), BODY, SECRET, NOW, 300) is None
    # A rolled secret: the provider signs with both, one v1 matching is enough.
    both = f"{sign(BODY, 'whsec_old', NOW)},v1={sign(BODY, SECRET, NOW).split('v1=')[1]}"
    assert signature_refusal(both, BODY, SECRET, NOW, 300) is None


@pytest.mark.parametrize(
    ("header", "body", "words"),
    [
        (None, BODY, "missing"),
        ("", BODY, "missing"),
        (f"v1={'0' * 64}", BODY, "no timestamp"),
        (f"t=abc,v1={'0' * 64}", BODY, "no timestamp"),
        (f"t={NOW}", BODY, "no v1"),
        (sign(BODY, SECRET, NOW - 301), BODY, "stale"),
        (sign(BODY, SECRET, NOW + 301), BODY, "stale"),
        (sign(BODY, "whsec_other", NOW), BODY, "no v1 signature matches"),
        (sign(BODY, SECRET, NOW), BODY + b" ", "no v1 signature matches"),
        # the timestamp is signed too: a captured signature under a new t does not match
        (sign(BODY, SECRET, NOW - 1000).replace(f"t={NOW - 1000}", f"t={NOW}"), BODY, "no v1 signature matches"),
    ],
)
def test_refusals_say_why_in_one_sentence(header, body, words) -> None:
    refusal = signature_refusal(header, body, SECRET, NOW, 300)
    assert refusal is not None and words in refusal and refusal.endswith(".")


def _intent(kind: str, **changes) -> dict:
    obj = {
        "id": "pi_123",
        "amount": 6_000,
        "currency": "eur",
        "payment_method_types": ["sepa_debit"],
        "metadata": {"account_id": "acc-1", "invoice_id": "inv-1"},
        **changes,
    }
    return {"id": "evt_9", "type": kind, "created": NOW, "data": {"object": obj}}


def test_a_succeeded_intent_is_a_payment_received() -> None:
    got = provider_event(_intent("payment_intent.succeeded"))
    assert (got.provider_event_id, got.provider_type) == ("evt_9", "payment_intent.succeeded")
    event = got.event
    assert event is not None and event.type == "payment.received.v1" and event.event_id == "webhook:evt_9"
    p = event.payload
    assert (p.account_id, p.payment_id, p.amount.amount_minor, p.amount.currency) == ("acc-1", "pi_123", 6_000, "EUR")
    assert (p.method.value, p.invoice_id, p.provider_reference) == ("direct_debit", "inv-1", "evt_9")
    assert p.received_at == datetime.fromtimestamp(NOW, UTC)


def test_a_failed_intent_and_a_refund() -> None:
    failed = provider_event(_intent("payment_intent.payment_failed", last_payment_error={"message": "insufficient"}))
    assert failed.event is not None and failed.event.type == "payment.failed.v1"
    assert failed.event.payload.reason == "insufficient"
    refund = {"id": "re_1", "payment_intent": "pi_123", "amount": 500, "currency": "eur", "reason": "requested"}
    refund["metadata"] = {"account_id": "acc-1"}
    got = provider_event({"id": "evt_r", "type": "refund.created", "created": NOW, "data": {"object": refund}})
    assert got.event is not None and got.event.type == "payment.refunded.v1"
    p = got.event.payload
    assert (p.refund_id, p.payment_id, p.amount.amount_minor) == ("re_1", "pi_123", 500)


def test_other_types_are_acknowledged_without_an_event() -> None:
    got = provider_event({"id": "evt_c", "type": "customer.created"})
    assert (got.provider_type, got.event) == ("customer.created", None)


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ([], "not a JSON object"),
        ({"type": "payment_intent.succeeded"}, "no id"),
        ({"id": "evt_1"}, "no type"),
        ({**_intent("payment_intent.succeeded"), "created": "yesterday"}, "no created time"),
        ({**_intent("payment_intent.succeeded"), "data": {}}, "no data.object"),
        (_intent("payment_intent.succeeded", metadata={}), "account_id is missing"),
        (_intent("payment_intent.succeeded", amount=-5), "amount"),
        (_intent("payment_intent.succeeded", amount=0), "amount"),
        (_intent("payment_intent.succeeded", currency="euro"), "currency"),
    ],
)
def test_malformed_events_are_refused_with_a_sentence(document, words) -> None:
    with pytest.raises(WebhookRefused, match=words):
        provider_event(json.loads(json.dumps(document)))
