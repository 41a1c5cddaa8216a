"""A provider's webhook event accepted, in the caller's transaction: recorded once by the provider's event id,
and its payment event written to the outbox for billing.payments.v1 (keyed by account, like every payment)."""

from __future__ import annotations

import asyncpg

from billing.collections.rules.webhook import ProviderEvent
from billing.contracts import dump_event
from billing.platform.store import enqueue
from billing.platform.topics import PAYMENTS


async def accept_provider_event(conn: asyncpg.Connection, received: ProviderEvent) -> bool:
    """False when this provider event id was accepted before (nothing is written again)."""
    event = received.event
    first = await conn.fetchval(
        "INSERT INTO payment_webhook_events (provider_event_id, provider_type, event_id) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING true",
        received.provider_event_id,
        received.provider_type,
        event.event_id if event is not None else None,
    )
    if not first:
        return False
    if event is not None:
        await enqueue(conn, PAYMENTS.name, event.payload.account_id.encode(), dump_event(event))
    return True
