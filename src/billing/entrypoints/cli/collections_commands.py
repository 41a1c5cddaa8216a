"""`billing account statement ID --from --to`: the account's ledger entries with a running balance, and the
balance lines `billing account show` prints (src/billing/collections/)."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, time, timedelta

import asyncpg
import click

from billing.collections import store
from billing.collections.rules.statement import statement
from billing.entrypoints.cli.billing_commands import _settings, _with_pool, account, money


async def balance_lines(conn: asyncpg.Connection | asyncpg.Pool, account_id: str) -> list[str]:
    row = await conn.fetchrow(
        "SELECT currency, balance_minor, credit_minor, suspended_at FROM account_collections WHERE account_id = $1",
        account_id,
    )
    if row is None:
        return ["balance: nothing in the ledger yet"]
    currency = row["currency"]
    lines = [f"balance {money(row['balance_minor'], currency)} (credit {money(row['credit_minor'], currency)})"]
    if row["suspended_at"] is not None:
        lines.append(f"suspended for non-payment since {row['suspended_at']:%Y-%m-%d}")
    invoices = await conn.fetch(
        "SELECT invoice_id, invoice_number, total_minor, open_minor, due_date FROM collection_invoices"
        " WHERE account_id = $1 AND open_minor > 0 ORDER BY due_date",
        account_id,
    )
    for i in invoices:
        lines.append(
            f"  open {i['invoice_number'] or i['invoice_id']}  due {i['due_date']}  open"
            f" {money(i['open_minor'], currency)} of {money(i['total_minor'], currency)}"
        )
    return lines


@account.command("statement")
@click.argument("account_id")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), required=True, help="First day (UTC).")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), required=True, help="Last day, included (UTC).")
def account_statement(account_id: str, start: datetime, end: datetime) -> None:
    """Every ledger entry of the period with a running balance that ends at the balance."""
    settings = _settings()
    since = datetime.combine(date(start.year, start.month, start.day), time(), UTC)
    until = datetime.combine(date(end.year, end.month, end.day), time(), UTC) + timedelta(days=1)

    async def work(pool: asyncpg.Pool):
        currency = await pool.fetchval("SELECT currency FROM account_collections WHERE account_id = $1", account_id)
        return currency, await store.entries(pool, account_id), await store.documents(pool, account_id)

    currency, entries, documents = _with_pool(settings, work)
    if currency is None:
        click.secho(f"error: account {account_id} has nothing in the ledger", fg="red", err=True)
        sys.exit(1)
    result = statement(entries, since, until)
    click.echo(f"statement of {account_id}, {since:%Y-%m-%d} to {until - timedelta(days=1):%Y-%m-%d}")
    click.echo(f"  opening balance {money(result.opening_minor, currency):>40}")
    for line in result.lines:
        e = line.entry
        ref = documents.get(e.entry_id) or e.invoice_id or e.payment_id or ""
        click.echo(
            f"  {e.at:%Y-%m-%d}  {e.kind.value:11} {ref[:28]:28} {money(line.amount_minor, currency):>16}"
            f" {money(line.balance_minor, currency):>16}"
        )
    click.echo(f"  closing balance {money(result.closing_minor, currency):>40}")


def register() -> None:
    """Importing this module adds the command to the `account` group (billing_commands.register adds the group)."""
