"""Helpers shared by the discount, dispute and invoicing tests on the dated stack: the relaxed authority
policy (agent 2,500 per grant, tier2 10,000, supervisor 50,000 EUR cents; no tenure rules), accounts opened in
2027 with their cycles closed by hand, disputes opened from the topic, an upstream invoice."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import asyncpg

from billing.contracts import envelope as ev
from billing.contracts.disputes import DisputeOpened, DisputeReason
from billing.contracts.invoices import InvoiceIssued, InvoiceLine, InvoiceLineKind
from billing.contracts.money import Money
from billing.discounts.rules.grants import AgentProfile
from billing.discounts.rules.policy import AuthorityPolicy, Role
from billing.discounts.rules.policy_defaults import DEFAULT_POLICY_DATA
from billing.entrypoints.stack.loadgen import Population, publish, record_of
from billing.invoicing.closer import close_due_cycles
from billing.invoicing.rules.catalog import demo_catalog
from tests.integration.helpers import eventually, fetch, fetchval, recent_period, unique

OPENED = datetime(2027, 3, 1, tzinfo=UTC)


GRANTED_AT = datetime(2027, 3, 10, 12, tzinfo=UTC)


AGENT = AgentProfile("agent-ann", Role.AGENT)


SUPERVISOR = AgentProfile("lead-sue", Role.SUPERVISOR)


def _relaxed_policy() -> AuthorityPolicy:
    data = copy.deepcopy(DEFAULT_POLICY_DATA)
    for rule in data["eligibility"].values():
        rule["min_tenure_days"] = 0
    return AuthorityPolicy.from_dict(data)


POLICY = _relaxed_policy()


async def open_account(live, opened: datetime = OPENED) -> str:
    population = Population.of(1, start=opened, prefix=unique("disc"))  # account 0 is on mobile-l
    account = population.account_ids[0]
    await publish(live.require_bootstrap(), [record_of(e) for e in population.openings()])
    dsn = live.require_database_url()
    await eventually(
        lambda: fetchval(dsn, "SELECT count(*) FROM accounts WHERE account_id = $1", account), lambda n: n == 1
    )
    return account


async def close_months(live, account: str, months: list[int]) -> list[tuple[int, int, int, int]]:
    """Close each month's cycle separately (as of the 5th of the next month) and return the invoices."""
    pool = await asyncpg.create_pool(live.require_database_url(), min_size=1, max_size=2)
    try:
        for month in months:
            as_of = datetime(2027, month + 1, 5, tzinfo=UTC)
            await close_due_cycles(pool, demo_catalog(), live, as_of, accounts=[account])
    finally:
        await pool.close()
    rows = await fetch(
        live.require_database_url(),
        "SELECT subtotal_minor, discount_minor, tax_minor, total_minor FROM invoices"
        " WHERE account_id = $1 ORDER BY period_start",
        account,
    )
    return [tuple(row) for row in rows]


async def in_tx(live, action):
    conn = await asyncpg.connect(live.require_database_url())
    try:
        async with conn.transaction():
            return await action(conn)
    finally:
        await conn.close()


async def wait_projected(live, grant_id: str) -> None:
    await eventually(
        lambda: fetchval(
            live.require_database_url(), "SELECT count(*) FROM discount_grants WHERE grant_id = $1", grant_id
        ),
        lambda n: n == 1,
    )


OPENED_AT = datetime(2027, 4, 6, 9, tzinfo=UTC)


def dispute_opened(
    account: str,
    invoice_id: str,
    amount_minor: int,
    reason: DisputeReason = DisputeReason.INCORRECT_CHARGE,
    at: datetime = OPENED_AT,
) -> ev.DisputeOpenedEvent:
    return ev.DisputeOpenedEvent(
        event_id=unique("dsp-open"),
        type="dispute.opened.v1",
        source="test/desk",
        occurred_at=at,
        schema_version=1,
        payload=DisputeOpened(
            account_id=account,
            dispute_id=unique("dsp"),
            invoice_id=invoice_id,
            amount=Money(amount_minor=amount_minor, currency="EUR"),
            reason=reason,
        ),
    )


async def open_disputes(live, events: list[ev.DisputeOpenedEvent]) -> None:
    await publish(live.require_bootstrap(), [record_of(e) for e in events])
    ids = [e.payload.dispute_id for e in events]
    await eventually(
        lambda: fetchval(
            live.require_database_url(), "SELECT count(*) FROM disputes WHERE dispute_id = ANY($1::text[])", ids
        ),
        lambda n: n == len(ids),
    )
    key = events[0].payload.account_id.encode()
    letters = await fetch(live.require_database_url(), "SELECT reason FROM dead_letters WHERE original_key = $1", key)
    assert not letters, [r[0] for r in letters]


def upstream_invoice(account: str, invoice_id: str, now: datetime) -> ev.InvoiceIssuedEvent:
    lines = (
        InvoiceLine(line_id="fee", kind=InvoiceLineKind.RECURRING, description="Plan fee", amount_minor=4200),
        InvoiceLine(line_id="roam", kind=InvoiceLineKind.USAGE, description="Roaming", amount_minor=800),
        InvoiceLine(line_id="tax", kind=InvoiceLineKind.TAX, description="VAT 19%", amount_minor=950),
    )  # 19 % of 5,000 is 950; total 5,950
    period = recent_period(now)
    return ev.InvoiceIssuedEvent(
        event_id=unique("iss"),
        type="invoice.issued.v1",
        source="billing/upstream",
        occurred_at=now,
        schema_version=1,
        payload=InvoiceIssued(
            account_id=account,
            invoice_id=invoice_id,
            invoice_number=f"UP-{invoice_id}"[:32],
            period_start=period[0],
            period_end=period[1],
            issued_at=now,
            due_date=period[2],
            currency="EUR",
            lines=lines,
            subtotal_minor=5000,
            discount_minor=0,
            tax_minor=950,
            total_minor=5950,
        ),
    )
