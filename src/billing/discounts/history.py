"""What the authority core needs to know, read from PostgreSQL: grant history and the customer's standing.

Runs inside the deciding transaction, after the account and agent locks (src/billing/discounts/service.py), so the
history cannot change between reading it and charging the new grant.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import asyncpg

from billing.accounts.facts import average_recent_invoice, plan_status, profile
from billing.accounts.standing import account_standing
from billing.discounts.rules.grants import CUSTOMER_WINDOW, CustomerStanding, GrantHistory, PastGrant
from billing.discounts.rules.policy import GrantKind

_HISTORY = """
SELECT grant_id, requested_by, account_id, kind, currency, value_minor, granted_at, approved_by
FROM discount_budget_charges
WHERE (account_id = $1 AND granted_at > $2)
   OR (charged_to = ANY($3::text[]) AND granted_at >= date_trunc('month', $4::timestamptz AT TIME ZONE 'UTC')
                                                      AT TIME ZONE 'UTC')
"""

# Standing: tenure from the account's opening; the expected invoice is the mean of the last three issued (by
# this system or upstream, read by src/billing/accounts/facts.py), or for an account not invoiced yet the
# recurring fee of the plan it is on (else a percent grant would be valued at nothing and always fit anyone's
# authority).


async def lock_for_decision(conn: asyncpg.Connection, account_id: str, person_id: str) -> None:
    """Serialise decisions per account and per charged person (always in this order: no deadlock)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('discount-account:' || $1))", account_id)
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('discount-agent:' || $1))", person_id)


async def grant_history(conn: asyncpg.Connection, account_id: str, people: list[str], now: datetime) -> GrantHistory:
    """The account's grants of the trailing 12 months and these people's charges of this month."""
    rows = await conn.fetch(_HISTORY, account_id, now - CUSTOMER_WINDOW, people, now)
    return GrantHistory(
        tuple(
            PastGrant(
                grant_id=r["grant_id"],
                agent_id=r["requested_by"],
                account_id=r["account_id"],
                kind=GrantKind(r["kind"]),
                currency=r["currency"].strip(),
                value_minor=r["value_minor"],
                granted_at=r["granted_at"],
                approved_by=r["approved_by"],
            )
            for r in rows
        )
    )


PlanFee = Callable[[str, datetime], int]  # (plan id, when) -> recurring fee in minor units


async def customer_standing(
    conn: asyncpg.Connection, account_id: str, now: datetime, plan_fee: PlanFee | None = None
) -> CustomerStanding | None:
    """None when the account is unknown. The overdue invoices are the account's standing, read by its one
    reader (src/billing/accounts/standing.py), from collections."""
    account = await profile(conn, account_id)
    if account is None:
        return None
    currency = account.currency
    average = await average_recent_invoice(conn, account_id, currency, last=3)
    if average == 0 and plan_fee is not None:
        plans = await plan_status(conn, account_id, now)  # the plan in force now: the account's one reader
        average = plan_fee(plans.plan_id, now) if plans is not None else 0
    standing = await account_standing(conn, account_id)
    return CustomerStanding(
        account_id,
        currency,
        account.opened_at,
        overdue_invoice_count=standing.overdue_invoices,
        average_invoice_minor=average,
    )
