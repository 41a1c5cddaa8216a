"""`POST /webhooks/payments`: a payment provider's webhook, authenticated by its signature, not by an agent.

The raw body is read once and checked before it is parsed (src/billing/collections/rules/webhook.py): 401 for
a missing, stale or wrong signature, 400 for a body that is not a payment event, 503 when no
PAYMENT_WEBHOOK_SECRET is configured; a refusal writes nothing (the audit row, written for every action, names
no agent). An accepted event becomes payment.received.v1, payment.failed.v1 or payment.refunded.v1 in the outbox,
once per provider event id: a repeated delivery answers 200 `duplicate`. The header is `Payment-Signature`, or
`Stripe-Signature` as Stripe sends it.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from billing.collections.rules.webhook import WebhookRefused, provider_event, signature_refusal
from billing.collections.webhook_store import accept_provider_event
from billing.entrypoints.api.auth import PAYMENTS_WEBHOOK, services
from billing.entrypoints.api.errors import ApiError
from billing.entrypoints.api.services import ApiServices
from billing.platform.unit_of_work import unit_of_work

router = APIRouter(tags=["webhooks"])


@router.post(PAYMENTS_WEBHOOK, name="webhooks.payments", openapi_extra={"x-roles": ["payment provider (signed)"]})
async def payments_webhook(
    request: Request,
    svc: ApiServices = Depends(services),
    payment_signature: str | None = Header(None, max_length=1024),
    stripe_signature: str | None = Header(None, max_length=1024),
) -> JSONResponse:
    """A provider's payment event, signed `t=<unix seconds>,v1=<HMAC-SHA256 hex of "<t>.<body>">`: 200 accepted,
    duplicate or ignored (a type not handled)."""
    secret = svc.settings.payment_webhook_secret
    if secret is None:
        raise ApiError(503, "webhook_not_configured", "no PAYMENT_WEBHOOK_SECRET is configured for payment webhooks.")
    body = await request.body()
    refusal = signature_refusal(
        payment_signature or stripe_signature,
        body,
        secret.get_secret_value(),
        svc.clock().timestamp(),
        svc.settings.payment_webhook_tolerance_s,
    )
    if refusal is not None:
        raise ApiError(401, "bad_signature", refusal)
    try:
        received = provider_event(orjson.loads(body))
    except orjson.JSONDecodeError:
        raise ApiError(400, "malformed", "the body is not JSON.") from None
    except WebhookRefused as wrong:
        raise ApiError(400, "malformed", str(wrong)) from None
    if received.event is None:
        return JSONResponse({"status": "ignored", "type": received.provider_type})
    async with unit_of_work(await svc.pool()) as conn:
        first = await accept_provider_event(conn, received)
    return JSONResponse(
        {"status": "accepted" if first else "duplicate", "event_id": received.event.event_id}, status_code=200
    )
