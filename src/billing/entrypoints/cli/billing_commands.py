"""Back-office commands on invoices: `billing account show`, `billing cycles close`,
`billing invoices held|release|void`.

They talk to PostgreSQL only (DATABASE_URL); the closing and releasing rules are the workers' own
(src/billing/invoicing/), so an invoice closed here is the invoice a worker would have closed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time
from typing import TypeVar

import asyncpg
import click
import orjson

from billing.money import to_major_units
from billing.platform.settings import Settings, load_settings
from billing.platform.unit_of_work import connection

T = TypeVar("T")
NO_DATABASE = (
    "DATABASE_URL is not set: run `billing up` in another terminal and export the DATABASE_URL=... line it prints."
)


def money(amount_minor: int, currency: str) -> str:
    return f"{to_major_units(amount_minor, currency.strip())} {currency.strip()}"


def _settings() -> Settings:
    settings = load_settings()
    if settings.database_url is None:
        click.secho(f"error: {NO_DATABASE}", fg="red", err=True)
        sys.exit(2)
    return settings


def _with_pool(settings: Settings, work: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    async def run() -> T:
        pool = await asyncpg.create_pool(settings.require_database_url(), min_size=1, max_size=2)
        try:
            return await work(pool)
        finally:
            await pool.close()

    return asyncio.run(run())


@click.group()
def account() -> None:
    """One account's billing."""


@account.command("show")
@click.argument("account_id")
@click.option("--invoices", "last", default=3, show_default=True, help="How many of the latest invoices to show.")
def account_show(account_id: str, last: int) -> None:
    """The plan in force (in event time, as billing has it) and a change still to come, the open cycle (period,
    usage per service, amount so far) and the latest invoices with their lines."""
    from billing.accounts.facts import plan_status, profile
    from billing.invoicing.catalog_config import load_catalog
    from billing.invoicing.loop import event_time_clock
    from billing.invoicing.preview import open_cycle

    settings = _settings()

    async def work(pool: asyncpg.Pool) -> tuple:
        async with connection(pool) as conn:
            found = await profile(conn, account_id)
            status = found.status if found else None
            now = datetime.now(UTC)
            plan = await plan_status(conn, account_id, await event_time_clock(conn) or now)
            cycle = await open_cycle(conn, load_catalog(settings), account_id, now)
            invoices = await conn.fetch(
                "SELECT invoice_id, invoice_number, status, period_start, period_end, currency, total_minor,"
                " lines::text AS lines, hold_reason FROM invoices WHERE account_id = $1"
                " ORDER BY period_start DESC LIMIT $2",
                account_id,
                last,
            )
            from billing.entrypoints.cli.collections_commands import balance_lines

            balance = await balance_lines(conn, account_id)
        return status, plan, cycle, invoices, balance

    status, plan, cycle, invoices, balance = _with_pool(settings, work)
    if status is None or plan is None:
        click.secho(f"error: there is no account {account_id}", fg="red", err=True)
        sys.exit(1)
    click.echo(f"account {account_id} ({status})")
    pending = f" ({plan.pending.summary()})" if plan.pending else ""
    click.echo(f"plan {plan.plan_id}{pending}")
    for line in balance:  # the collections ledger: balance, credit, open invoices
        click.echo(line)
    _print_open_cycle(cycle)
    click.echo(f"latest invoices ({len(invoices)}):" if invoices else "no invoices yet")
    for row in invoices:
        _print_invoice(row)


def _print_open_cycle(cycle) -> None:
    if cycle is None:
        click.echo("open cycle: none (final invoice issued)")
        return
    draft = cycle.draft
    closed_on = cycle.account.closed_on
    if closed_on is not None and closed_on < cycle.account.cycle_start:
        click.echo(
            f"final invoice issued; late usage is billed on a final adjustment after {cycle.period_end}:"
            f" {money(draft.total_minor, draft.currency)} incl. tax so far"
        )
        return
    click.echo(f"open cycle: {cycle.account.cycle_start} to {cycle.period_end} (exclusive)")
    if not cycle.usage:
        click.echo("  no usage yet")
    for usage in cycle.usage:
        click.echo(
            f"  {usage.service:6} {usage.billable_units:>14,} billable units in {usage.events:,} events"
            f"  ({usage.plan_id} v{usage.plan_version})"
        )
    click.echo(
        f"  rated so far: {money(draft.total_minor, draft.currency)} incl. tax"
        f" (subtotal {money(draft.subtotal_minor, draft.currency)}, tax {money(draft.tax_minor, draft.currency)},"
        " recurring fee for the whole cycle)"
    )


def _print_invoice(row: asyncpg.Record) -> None:
    number = row["invoice_number"] or f"held: {row['hold_reason']}"
    click.echo(
        f"  {row['invoice_id']}  {number}  {row['period_start']} to {row['period_end']}"
        f"  total {money(row['total_minor'], row['currency'])}"
    )
    for line in orjson.loads(row["lines"]):
        click.echo(
            f"    {line['kind']:10} {line['description'][:60]:60} {money(line['amount_minor'], row['currency']):>16}"
        )


@click.group()
def cycles() -> None:
    """Billing cycles."""


@cycles.command("close")
@click.option(
    "--as-of",
    "as_of",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Close every cycle due at 00:00 UTC of this date: ended, and its grace period over.",
)
@click.option("--batch", "batch_size", default=1000, show_default=True, help="Accounts per transaction.")
@click.option("--account", "only", multiple=True, help="Close only this account's cycles (repeatable).")
@click.option("--force", is_flag=True, help="Close as of a date later than the event-time clock and today.")
def cycles_close(as_of: datetime, batch_size: int, only: tuple[str, ...], force: bool) -> None:
    """Close every cycle due as of a date; invoices are dated that day. A re-run changes nothing.

    A date later than both the event-time clock (the usage time every partition has reached) and today is
    refused unless --force: it would bill cycles whose usage may not have arrived yet.
    """
    from billing.invoicing.catalog_config import load_catalog
    from billing.invoicing.closer import close_due_cycles, due_cutoff
    from billing.invoicing.rules.close_model import CloseReport
    from billing.platform.runtime import tune_gc

    settings = _settings()
    tune_gc()
    moment = datetime.combine(as_of.date(), time.min, UTC)
    if not force:
        _refuse_future(settings, as_of.date())
    click.echo(f"closing cycles ending on or before {due_cutoff(moment, settings)}", err=True)

    def progress(report: CloseReport) -> None:
        click.echo(
            f"  {report.invoices:,} invoices ({report.issued:,} issued, {report.held:,} held),"
            f" {report.skipped:,} skipped, {report.per_second:,.0f} invoices/s",
            err=True,
        )

    report = _with_pool(
        settings,
        lambda pool: close_due_cycles(
            pool,
            load_catalog(settings),
            settings,
            moment,
            batch_size,
            accounts=list(only) or None,
            progress=progress,
        ),
    )
    click.echo(
        f"closed {report.invoices:,} cycles: {report.issued:,} issued, {report.held:,} held for review,"
        f" {report.skipped:,} skipped, in {report.seconds:.2f} s ({report.per_second:,.0f} invoices/s)"
    )
    for error in report.errors:
        click.echo(f"  not closed: {error}")


def _refuse_future(settings: Settings, as_of: date) -> None:
    """Exit 2 when ``as_of`` is later than both the event-time clock and today (UTC)."""
    from billing.invoicing.loop import event_time_clock

    clock = _with_pool(settings, event_time_clock)
    today = datetime.now(UTC).date()
    latest = max(today, clock.astimezone(UTC).date()) if clock is not None else today
    if as_of > latest:
        seen = f"the event-time clock is at {clock.astimezone(UTC).date()}" if clock else "no usage has arrived yet"
        click.secho(
            f"error: --as-of {as_of} is later than today ({today}) and {seen}, so cycles would be billed"
            " before their usage is in; pass --force to close them anyway.",
            fg="red",
            err=True,
        )
        sys.exit(2)


@click.group()
def invoices() -> None:
    """Invoices held for review."""


@invoices.command("held")
def invoices_held() -> None:
    """List the invoices the safety bound held for review."""
    from billing.invoicing.held import held_invoices

    settings = _settings()

    async def work(pool: asyncpg.Pool) -> list[asyncpg.Record]:
        async with connection(pool) as conn:
            return await held_invoices(conn)

    rows = _with_pool(settings, work)
    if not rows:
        click.echo("no invoices held")
    for row in rows:
        click.echo(
            f"{row['invoice_id']}  {row['account_id']}  {row['period_start']} to {row['period_end']}"
            f"  total {money(row['total_minor'], row['currency'])}  {row['hold_reason']}"
        )


@invoices.command("release")
@click.argument("invoice_id")
def invoices_release(invoice_id: str) -> None:
    """Issue a held invoice as it was built: next number, issued today, its invoice.issued.v1 event."""
    from billing.invoicing.held import ReleaseError, release_held

    settings = _settings()
    try:
        number = _with_pool(settings, lambda pool: release_held(pool, invoice_id, settings, datetime.now(UTC)))
    except ReleaseError as error:
        click.secho(f"error: {error}", fg="red", err=True)
        sys.exit(1)
    click.echo(f"released {invoice_id} as {number}")


@invoices.command("void")
@click.argument("invoice_id")
@click.option("--reason", required=True, help="Why it is voided (kept on the invoice), e.g. billed upstream.")
def invoices_void(invoice_id: str, reason: str) -> None:
    """Void a held invoice for good: no number, no event; its discounts go to the next invoice."""
    from billing.invoicing.held import ReleaseError, void_held

    settings = _settings()
    try:
        handed_back = _with_pool(settings, lambda pool: void_held(pool, invoice_id, reason))
    except ReleaseError as error:
        click.secho(f"error: {error}", fg="red", err=True)
        sys.exit(1)
    click.echo(f"voided {invoice_id}; {handed_back} discount application(s) handed back to the next invoice")


def register(main: click.Group) -> None:
    for group in (account, cycles, invoices):
        main.add_command(group)
