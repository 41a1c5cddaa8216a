"""What the stream knows about an account when a contact arrives, read from PostgreSQL in the routing
transaction (so it sees the call or dispute row the projection just wrote):

- average invoice: mean total of the account's issued invoices of both origins (ours and upstream ones, as
  src/billing/accounts/facts.py defines them), rounded half up to a minor unit; None without any invoice;
- tenure: whole days from the account's opening to the contact (0 for an account not known yet);
- open disputes: the account's other disputes still open (the one being routed is not counted);
- disputed amount: the sum of the account's open disputed amounts, the one being routed included;
- repeat calls: earlier calls of the account about the same invoice in the 30 days before this contact;
- cancellation intent: a call with that reason in the last 30 days, this one included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from billing.accounts.facts import ISSUED_INVOICES
from billing.care.rules.routing_rules import AccountFacts
from billing.platform.unit_of_work import one_row

_WINDOW = "interval '30 days'"

_FACTS_SQL = f"""
SELECT
  (SELECT opened_at FROM accounts WHERE account_id = $1) AS opened_at,
  (SELECT currency FROM accounts WHERE account_id = $1) AS currency,
  (SELECT round(avg(total_minor))::bigint FROM ({ISSUED_INVOICES}) AS issued
      WHERE account_id = $1) AS average_invoice,
  (SELECT count(*) FROM disputes WHERE account_id = $1 AND status = 'open'
      AND dispute_id IS DISTINCT FROM $5) AS open_disputes,
  (SELECT coalesce(sum(amount_minor), 0) FROM disputes WHERE account_id = $1 AND status = 'open') AS disputed,
  (SELECT count(*) FROM calls WHERE account_id = $1 AND $4::text IS NOT NULL AND invoice_id = $4
      AND call_id IS DISTINCT FROM $3 AND started_at > $2::timestamptz - {_WINDOW} AND started_at <= $2::timestamptz) AS repeat_calls,
  (SELECT EXISTS (SELECT 1 FROM calls WHERE account_id = $1 AND reason = 'cancellation_intent'
      AND started_at > $2::timestamptz - {_WINDOW} AND started_at <= $2::timestamptz)) AS cancellation_intent
"""


@dataclass(frozen=True)
class KnownAccount:
    facts: AccountFacts
    currency: str | None  # None: the account is not known yet


async def account_facts(
    conn: asyncpg.Connection,
    account_id: str,
    at: datetime,
    *,
    call_id: str | None = None,
    invoice_id: str | None = None,
    dispute_id: str | None = None,
) -> KnownAccount:
    row = await one_row(conn, _FACTS_SQL, account_id, at, call_id, invoice_id, dispute_id)
    opened_at = row["opened_at"]
    tenure_days = max(0, (at - opened_at).days) if opened_at is not None else 0
    facts = AccountFacts(
        account_id=account_id,
        average_invoice_minor=row["average_invoice"],
        tenure_days=tenure_days,
        open_disputes=row["open_disputes"],
        disputed_amount_minor=row["disputed"],
        repeat_calls_same_invoice_30d=row["repeat_calls"],
        cancellation_intent=row["cancellation_intent"],
    )
    currency = row["currency"].strip() if row["currency"] else None
    return KnownAccount(facts=facts, currency=currency)
