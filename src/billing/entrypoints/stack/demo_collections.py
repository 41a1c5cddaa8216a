"""The demo's collections act: payments for most invoices, dunning on the event-time clock, a suspension and a
payment that restores the account.

The demo drives event time itself, as it closes the cycles itself (the workers' closer and dunning loop wait an
hour between passes in the demo): payments arrive before the due dates, then dunning is run as of the day the
last unpaid invoice is past its suspend step (due date + grace + the policy's suspend day), the instant a month
and more after today at which the demo pretends to look. One suspended customer then pays, on the next day.
"""

from __future__ import annotations

import asyncio
import random
import time as clock
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

import asyncpg
import click

from billing.collections.dunning_config import load_policy
from billing.collections.dunning_runner import run_dunning
from billing.collections.receivables import Receivables, receivables
from billing.collections.rules.dunning import StepAction
from billing.contracts import envelope as ev
from billing.contracts.money import Money
from billing.contracts.payments import PaymentMethod, PaymentReceived
from billing.entrypoints.cli.billing_commands import money
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.platform.settings import Settings

UNPAID_SHARE = 0.15  # of invoices left unpaid, to be dunned
SEED = 13


@dataclass
class CollectionsDemo:
    invoices: int = 0
    paid: int = 0
    as_of: datetime | None = None
    nothing_due: int = 0  # invoices with nothing open when issued (a total of 0.00): nothing to pay or to dun
    steps: dict[str, int] = field(default_factory=dict)
    suspended: list[str] = field(default_factory=list)
    restored: str | None = None
    figures: list[Receivables] = field(default_factory=list)


def run_collections(settings: Settings, invoices_issued: int) -> CollectionsDemo:
    return asyncio.run(_run(settings, invoices_issued))


async def _run(settings: Settings, invoices_issued: int) -> CollectionsDemo:
    policy = load_policy(settings)
    result = CollectionsDemo()
    pool = await asyncpg.create_pool(settings.require_database_url(), min_size=1, max_size=4)
    try:
        await _until(pool, "SELECT count(*) FROM collection_invoices", invoices_issued, "invoices in the ledger")
        rows = await pool.fetch(
            "SELECT invoice_id, account_id, currency, total_minor, open_minor, due_date, issued_at"
            " FROM collection_invoices WHERE open_minor > 0 ORDER BY invoice_id"
        )
        result.invoices = len(rows)
        result.nothing_due = invoices_issued - len(rows)
        rng = random.Random(SEED)
        paying = [r for r in rows if rng.random() >= UNPAID_SHARE]
        paid_ids = {r["invoice_id"] for r in paying}
        click.echo(f"  publishing payments for {len(paying):,} of {len(rows):,} invoices", err=True)
        payments = [
            _payment(r["account_id"], f"demo-pay-{r['invoice_id']}", r["open_minor"], r["currency"].strip(),
                     r["issued_at"] + timedelta(days=rng.randint(1, 10)), r["invoice_id"])
            for r in paying
        ]  # fmt: skip
        await publish(settings.require_bootstrap(), [record_of(p) for p in payments])
        await _until(pool, "SELECT count(*) FROM payments", len(payments), "payments applied")
        result.paid = len(payments)
        unpaid_due = [r["due_date"] for r in rows if r["invoice_id"] not in paid_ids and r["due_date"] is not None]
        if not unpaid_due:
            return result
        suspend_day = max((s.day for s in policy.steps if s.action is StepAction.SUSPEND), default=21)
        last_due = max(unpaid_due)
        as_of = datetime.combine(last_due + timedelta(days=policy.grace_days + suspend_day), time(12), UTC)
        result.as_of = as_of
        click.echo(
            f"  dunning as of {as_of.date()} (event time: the last unpaid invoice at its suspend step)", err=True
        )
        report = await run_dunning(pool, policy, as_of)
        for _, _, step in report.steps:
            result.steps[step] = result.steps.get(step, 0) + 1
        result.suspended = [
            r["account_id"]
            for r in await pool.fetch(
                "SELECT account_id FROM account_collections WHERE suspended_at IS NOT NULL ORDER BY account_id"
            )
        ]
        if result.suspended:
            await _restore_one(settings, pool, result, as_of)
        result.figures = await receivables(pool, as_of, policy.grace_days)
    finally:
        await pool.close()
    return result


async def _restore_one(settings: Settings, pool: asyncpg.Pool, result: CollectionsDemo, as_of: datetime) -> None:
    account = result.suspended[0]
    owed = await pool.fetchrow("SELECT currency, open_minor FROM account_collections WHERE account_id = $1", account)
    assert owed is not None  # suspended: it has a collections row
    payment = _payment(account, f"demo-pay-late-{account}", owed["open_minor"], owed["currency"].strip(),
                       as_of + timedelta(days=1), None)  # fmt: skip
    await publish(settings.require_bootstrap(), [record_of(payment)])
    await _until(
        pool,
        "SELECT count(*) FROM account_collections WHERE account_id = $1 AND suspended_at IS NULL",
        1,
        "the account restored",
        account,
    )
    result.restored = account


def _payment(account: str, payment_id: str, amount: int, currency: str, at: datetime, invoice_id: str | None):
    return ev.PaymentReceivedEvent(
        event_id=f"demo:{payment_id}",
        source="demo/payments",
        occurred_at=at,
        schema_version=1,
        type="payment.received.v1",
        payload=PaymentReceived(
            account_id=account,
            payment_id=payment_id,
            amount=Money(amount_minor=amount, currency=currency),
            method=PaymentMethod.DIRECT_DEBIT,
            provider_reference=f"sepa-{payment_id}"[:128],
            received_at=at,
            invoice_id=invoice_id,
        ),
    )


async def _until(pool: asyncpg.Pool, query: str, wanted: int, what: str, *args: object, timeout_s: float = 120) -> None:
    deadline = clock.monotonic() + timeout_s
    while clock.monotonic() < deadline:
        if await pool.fetchval(query, *args) >= wanted:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{what}: not done within {timeout_s:.0f} s")


def report_collections(result: CollectionsDemo) -> None:
    zero = f" (the other {result.nothing_due:,} had nothing to pay)" if result.nothing_due else ""
    click.echo(
        f"\ncollections: {result.paid:,} of the {result.invoices:,} invoices with an amount due paid by direct debit"
        f" before their due date{zero}"
    )
    if result.as_of is None:
        return
    taken = ", ".join(f"{step} {n}" for step, n in result.steps.items()) or "none"
    click.echo(f"  dunning as of {result.as_of.date()} (event time): steps taken {taken}")
    click.echo(f"  {len(result.suspended)} account(s) suspended for non-payment")
    if result.restored:
        click.echo(f"  {result.restored} paid the next day: restored (account.restored.v1)")
    for f in result.figures:
        bands = ", ".join(
            f"{band} days {money(amount, f.currency)}" for band, amount in f.aging.overdue_by_band.items()
        )
        dso = f"{f.dso_days:.1f}" if f.dso_days is not None else "n/a"
        click.echo(f"  open receivables {money(f.aging.open_minor, f.currency)}; overdue {bands}; DSO {dso} days")
