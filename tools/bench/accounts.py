"""Open the benchmark's accounts straight in PostgreSQL, as the accounts projection stores them.

Setup, not a measured figure: a Faust agent applies account.opened.v1 one event per transaction (a few hundred
per second on this 2-core machine while other work runs), so 100,000 openings through the topic would take
minutes before the first measurement. `--accounts-via-topic` takes that road instead. The rows written here
are the ones src/billing/accounts/projection.py writes for an opening: the account with its first cycle, and the
opening as its first plan period.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg
import orjson

from billing.invoicing.rules.cycles import cycle_for

ANCHOR_DAY = 1  # every account closes on the same day, so one close run invoices all of them


def plan_of(index: int) -> str:
    return "mobile-s" if index % 3 else "mobile-l"


async def open_directly(dsn: str, account_ids: Sequence[str], opened_at: datetime) -> int:
    cycle = cycle_for(ANCHOR_DAY, opened_at)
    accounts = [
        (
            aid,
            plan_of(i),
            ANCHOR_DAY,
            "EUR",
            "DE",
            orjson.dumps({"name": f"Customer {i}", "email": f"c{i}@example.com"}).decode(),
            "active",
            opened_at,
            cycle.start,
            cycle.end,
        )
        for i, aid in enumerate(account_ids)
    ]
    periods = [(f"open-{aid}", aid, plan_of(i), opened_at) for i, aid in enumerate(account_ids)]
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(
                "accounts",
                records=accounts,
                columns=(
                    "account_id",
                    "plan_id",
                    "billing_anchor_day",
                    "currency",
                    "jurisdiction",
                    "contact",
                    "status",
                    "opened_at",
                    "next_cycle_start",
                    "next_cycle_end",
                ),
            )
            await conn.copy_records_to_table(
                "account_plan_changes", records=periods, columns=("event_id", "account_id", "plan_id", "effective_at")
            )
    finally:
        await conn.close()
    return len(accounts)
