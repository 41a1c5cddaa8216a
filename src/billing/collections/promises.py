"""Recording a promise to pay, in the caller's transaction (the agent route's unit of work).

The account's collections row is locked first, as the projection and the dunning runner do, so the open amount
the promise is checked against cannot change under it and a dunning pass sees either no promise or the whole of it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from billing.collections.rules.promises import PromiseRefused, promise_refusal


@dataclass(frozen=True)
class RecordedPromise:
    promise_id: str
    account_id: str
    promised_for: date
    amount_minor: int
    currency: str


async def record_promise(
    conn: asyncpg.Connection, account_id: str, promised_for: date, amount_minor: int, made_at: datetime, made_by: str
) -> RecordedPromise | PromiseRefused:
    row = await conn.fetchrow(
        "SELECT currency, open_minor FROM account_collections WHERE account_id = $1 FOR UPDATE", account_id
    )
    open_minor, currency = (row["open_minor"], row["currency"].strip()) if row else (0, "")
    refusal = promise_refusal(promised_for, amount_minor, open_minor, made_at.date())
    if refusal is not None:
        return refusal
    promise = RecordedPromise(f"ptp-{uuid.uuid4().hex[:20]}", account_id, promised_for, amount_minor, currency)
    await conn.execute(
        "INSERT INTO payment_promises (promise_id, account_id, amount_minor, currency, promised_for, made_at,"
        " made_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        promise.promise_id,
        account_id,
        amount_minor,
        promise.currency,
        promised_for,
        made_at,
        made_by,
    )
    return promise
