"""Account events of collections (suspended, restored, closed for non-payment), written to the outbox in the
caller's transaction. Event ids come from what caused them, so a retried step or payment makes the same id."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from billing.contracts import dump_event
from billing.contracts import envelope as ev
from billing.contracts.accounts import AccountClosed, ClosureReason
from billing.contracts.money import Money
from billing.contracts.payments import AccountRestored, AccountSuspended
from billing.platform.store import enqueue
from billing.platform.topics import ACCOUNTS

DUNNING_SOURCE = "collections/dunning"
PAYMENTS_SOURCE = "collections/payments"


def _envelope(event_id: str, source: str, at: datetime) -> dict[str, object]:
    return {"event_id": event_id[:128], "source": source, "occurred_at": at, "schema_version": 1}


async def _emit(conn: asyncpg.Connection, event: ev.Event) -> None:
    await enqueue(conn, ACCOUNTS.name, event.payload.account_id.encode(), dump_event(event))


async def suspended(
    conn: asyncpg.Connection, account_id: str, invoice_id: str, overdue: Money, at: datetime
) -> ev.AccountSuspendedEvent:
    event = ev.AccountSuspendedEvent(
        **_envelope(f"suspended:{invoice_id}", DUNNING_SOURCE, at),
        type="account.suspended.v1",
        payload=AccountSuspended(account_id=account_id, invoice_id=invoice_id, overdue=overdue, suspended_at=at),
    )
    await _emit(conn, event)
    return event


async def restored(
    conn: asyncpg.Connection, account_id: str, payment_id: str | None, at: datetime
) -> ev.AccountRestoredEvent:
    event = ev.AccountRestoredEvent(
        **_envelope(f"restored:{account_id}:{payment_id or at.isoformat()}", PAYMENTS_SOURCE, at),
        type="account.restored.v1",
        payload=AccountRestored(account_id=account_id, payment_id=payment_id, restored_at=at),
    )
    await _emit(conn, event)
    return event


async def closed_for_non_payment(conn: asyncpg.Connection, account_id: str, invoice_id: str, at: datetime) -> None:
    await _emit(
        conn,
        ev.AccountClosedEvent(
            **_envelope(f"closed-non-payment:{invoice_id}", DUNNING_SOURCE, at),
            type="account.closed.v1",
            payload=AccountClosed(account_id=account_id, closed_at=at, reason=ClosureReason.NON_PAYMENT),
        ),
    )
