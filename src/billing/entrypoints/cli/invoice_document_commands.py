"""`billing invoices show|explain|render ID`: an invoice as the customer reads it, why it changed, and its HTML
and PDF (src/billing/invoicing/documents.py, rendering.py). Unknown ids: one sentence, exit code 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import asyncpg
import click

from billing.entrypoints.cli.billing_commands import _settings, _with_pool, invoices


def _document(invoice_id: str) -> dict[str, Any]:
    from billing.invoicing.documents import InvoiceNotFound, load_invoice_document, seller_of

    settings = _settings()

    async def work(pool: asyncpg.Pool) -> dict[str, Any]:
        async with pool.acquire() as conn:
            return await load_invoice_document(conn, invoice_id, seller_of(settings))

    try:
        return _with_pool(settings, work)
    except InvoiceNotFound:
        click.secho(
            f"error: there is no invoice {invoice_id} (neither issued here nor by an upstream producer)",
            fg="red",
            err=True,
        )
        sys.exit(2)


@invoices.command("show")
@click.argument("invoice_id")
def invoices_show(invoice_id: str) -> None:
    """An invoice as the customer reads it: parties, period, lines with quantities and prices, tax, total."""
    d = _document(invoice_id)
    click.echo(f"Invoice {d['number'] or '(' + d['status'] + ')'}  {d['invoice_id']}  ({d['origin']})")
    click.echo(f"  issued {d['issued_on']}, period {d['period']}, due {d['due_on']}")
    click.echo(f"  from {d['seller']['name']}, {d['seller']['address']}")
    click.echo(f"  to   {d['customer']['name']} (account {d['customer']['account_id']})")
    for group in d["groups"]:
        click.echo(f"  {group['title']}" + (f": {group['used']}" if group["used"] else ""))
        for row in group["rows"]:
            _row(row)
    for title, rows in (("Late usage", d["late_usage"]), ("Discounts and credits", d["reductions"])):
        if rows:
            click.echo(f"  {title}")
            for row in rows:
                _row(row)
    click.echo(f"  {'Subtotal':<58}{d['subtotal']:>18}")
    click.echo(f"  {'Discounts':<58}{d['discounts']:>18}")
    click.echo(f"  {d['tax']['label']:<58}{d['tax']['amount']:>18}")
    click.echo(f"  {'Account credit':<58}{d['credits']:>18}")
    click.echo(f"  {'Total':<58}{d['total']:>18}")
    for note in d["credit_notes"]:
        click.echo(f"  credit note {note['number']} of {note['issued_on']}: {note['amount']} ({note['reason']})")
    _changes(d)


def _row(row: dict[str, Any]) -> None:
    what = " ".join(part for part in (row["quantity"], f"at {row['unit_price']}" if row["unit_price"] else "") if part)
    click.echo(f"    {row['title']:<40} {what:<30} {row['amount']:>16}")
    if row["detail"]:
        click.echo(f"      {row['detail']}")


def _changes(d: dict[str, Any]) -> None:
    changes = d["changes"]
    click.echo("What changed since your last bill")
    if changes.get("first"):
        click.echo(f"  first bill: {d['total']}")
    elif changes["available"]:
        click.echo(f"  last bill {changes['previous_total']}, this bill {d['total']} ({changes['change']})")
    for cause in changes["causes"]:
        click.echo(f"  {cause['amount']:>16}  {cause['text']}")
    if changes["note"]:
        click.echo(f"  note: {changes['note']}")


@invoices.command("explain")
@click.argument("invoice_id")
def invoices_explain(invoice_id: str) -> None:
    """Why the total differs from the account's previous bill: causes with amounts, largest first, adding up."""
    _changes(_document(invoice_id))


@invoices.command("render")
@click.argument("invoice_id")
@click.option(
    "--html", "html_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="HTML file to write."
)
@click.option(
    "--pdf", "pdf_path", type=click.Path(dir_okay=False, path_type=Path), help="PDF file to print (headless Chromium)."
)
def invoices_render(invoice_id: str, html_path: Path, pdf_path: Path | None) -> None:
    """Write the customer invoice as one self-contained HTML file, and optionally as PDF."""
    from billing.invoicing.rendering import RenderError, print_pdf, render_html

    html_path.write_text(render_html(_document(invoice_id)), encoding="utf-8")
    click.echo(f"wrote {html_path}")
    if pdf_path is not None:
        try:
            print_pdf(html_path, pdf_path)
        except RenderError as error:
            click.secho(f"error: {error}", fg="red", err=True)
            sys.exit(1)
        click.echo(f"wrote {pdf_path}")
