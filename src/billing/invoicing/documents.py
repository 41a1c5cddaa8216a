"""A stored invoice back into what its explanation and its customer document need (issue 12 points 2 and 3).

``load_invoice_document`` and ``explain_stored`` read one invoice, ours (``invoices``) or an upstream producer's
(``invoices_issued``), with the account's previous invoice by period from both, the account's contact, the
credit notes against it and, for the day an allowance ran out, the cycle's rated usage per day
(``usage_events``, read only when an allowance did run out). The wording and the formatting are pure
(``rules/document.py``, ``rules/stored_invoice.py``); this module only reads. jsonb is read as text, so any pool
works, with or without the worker's jsonb codec.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

import asyncpg
import orjson

from billing.accounts.facts import contact_and_jurisdiction, credit_notes_against
from billing.invoicing.rules.catalog import ServiceKind
from billing.invoicing.rules.document import CreditNote, Party, invoice_document
from billing.invoicing.rules.explanation import DailyUsage, Explanation, explain_invoice
from billing.invoicing.rules.explanation_model import CauseKind, ExplanationError
from billing.invoicing.rules.stored_invoice import (
    OURS,
    UPSTREAM,
    StoredInvoice,
    coarse_explanation,
    draft_of,
    limitation,
    previous_of,
)
from billing.platform.settings import Settings, load_settings

# A connection of its own or one acquired from a pool (the API's and the CLI's).
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


class InvoiceNotFound(LookupError):
    """No invoice with this id (in either table)."""


_OURS = (
    "SELECT invoice_id, account_id, status, invoice_number, period_start, period_end, issued_at, due_date, currency,"
    " lines::text AS lines, total_minor, is_final FROM invoices"
)
_UPSTREAM = (
    "SELECT invoice_id, account_id, 'issued' AS status, invoice_number, period_start, period_end, issued_at,"
    " due_date, currency, lines::text AS lines, total_minor, false AS is_final FROM invoices_issued"
)


def _stored(row: asyncpg.Record, origin: str) -> StoredInvoice:
    return StoredInvoice(
        invoice_id=row["invoice_id"],
        account_id=row["account_id"],
        origin=origin,
        status=row["status"],
        invoice_number=row["invoice_number"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        issued_at=row["issued_at"],
        due_date=row["due_date"],
        currency=row["currency"].strip(),
        lines=tuple(orjson.loads(row["lines"])),
        total_minor=row["total_minor"],
        is_final=row["is_final"],
    )


async def stored_invoice(conn: Conn, invoice_id: str) -> StoredInvoice:
    """The invoice by id, ours first; InvoiceNotFound when neither table has it."""
    row = await conn.fetchrow(_OURS + " WHERE invoice_id = $1", invoice_id)
    if row is not None:
        return _stored(row, OURS)
    row = await conn.fetchrow(_UPSTREAM + " WHERE invoice_id = $1", invoice_id)
    if row is None:
        raise InvoiceNotFound(f"there is no invoice {invoice_id}")
    return _stored(row, UPSTREAM)


async def _previous(conn: Conn, invoice: StoredInvoice) -> StoredInvoice | None:
    """The account's issued invoice, ours or upstream, whose period started last before this one's."""
    candidates = []
    for query, origin in ((_OURS, OURS), (_UPSTREAM, UPSTREAM)):
        row = await conn.fetchrow(
            query
            + " WHERE account_id = $1 AND period_start < $2 AND currency = $3"
            + (" AND status = 'issued'" if origin == OURS else "")
            + " ORDER BY period_start DESC LIMIT 1",
            invoice.account_id,
            invoice.period_start,
            invoice.currency,
        )
        if row is not None:
            candidates.append(_stored(row, origin))
    return previous_of(invoice, candidates)


async def daily_usage(conn: Conn, account_id: str, cycle_start: date, services: list[str]) -> DailyUsage:
    """Billable units per service and UTC day of one cycle. usage_events has no index by account (migration 0009
    dropped it for the hot path), so this is read only when an allowance ran out on the invoice."""
    rows = await conn.fetch(
        "SELECT service, (started_at AT TIME ZONE 'UTC')::date AS day, sum(billable_units)::bigint AS units"
        " FROM usage_events WHERE account_id = $1 AND cycle_start = $2 AND service = ANY($3::text[])"
        " GROUP BY 1, 2",
        account_id,
        cycle_start,
        services,
    )
    days: dict[ServiceKind, list[tuple[date, int]]] = defaultdict(list)
    for row in rows:
        days[ServiceKind(row["service"])].append((row["day"], row["units"]))
    return days


async def explained(conn: Conn, invoice: StoredInvoice) -> tuple[Explanation, str | None]:
    """The explanation against the previous invoice, and why it is coarse (None: it is the full one)."""
    previous = await _previous(conn, invoice)
    note = limitation(invoice, previous)
    if note is not None:
        return coarse_explanation(invoice, previous), note
    draft = draft_of(invoice)
    before = None if previous is None else draft_of(previous)
    try:
        explanation = explain_invoice(draft, before)
    except ExplanationError as error:  # e.g. a previous invoice in another currency: still explain by lines
        return coarse_explanation(invoice, previous), f"explained by line kind and service only: {error}"
    ran_out = sorted(
        {
            c.service
            for c in explanation.causes
            if c.kind is CauseKind.ALLOWANCE_EXHAUSTED and c.amount_minor > 0 and c.service is not None
        }
    )
    if ran_out:
        usage = await daily_usage(conn, invoice.account_id, invoice.period_start, [str(s) for s in ran_out])
        explanation = explain_invoice(draft, before, usage)
    return explanation, None


async def explain_stored(conn: Conn, invoice_id: str) -> Explanation:
    """Why invoice ``invoice_id``'s total differs from the account's previous invoice (InvoiceNotFound if unknown)."""
    explanation, _note = await explained(conn, await stored_invoice(conn, invoice_id))
    return explanation


async def _customer(conn: Conn, account_id: str) -> tuple[Party, str | None]:
    known = await contact_and_jurisdiction(conn, account_id)
    if known is None:  # an upstream invoice may name an account this system has not seen opened
        return Party(name=account_id, account_id=account_id), None
    contact, jurisdiction = known
    party = Party(
        name=contact.get("name", ""), email=contact.get("email"), phone=contact.get("phone"), account_id=account_id
    )
    return party, jurisdiction


async def _credit_notes(conn: Conn, invoice_id: str) -> list[CreditNote]:
    rows = await credit_notes_against(conn, invoice_id)
    return [CreditNote(r["credit_note_number"], r["issued_at"], r["amount_minor"], r["reason"]) for r in rows]


async def _event_counts(conn: Conn, invoice: StoredInvoice) -> dict[tuple[str, int, str], int]:
    if invoice.origin != OURS:
        return {}
    rows = await conn.fetch(
        "SELECT plan_id, plan_version, service, events FROM cycle_usage WHERE account_id = $1 AND cycle_start = $2",
        invoice.account_id,
        invoice.period_start,
    )
    return {(r["plan_id"], r["plan_version"], r["service"]): r["events"] for r in rows}


def seller_of(settings: Settings) -> Party:
    return Party(name=settings.seller_name, address=settings.seller_address, tax_id=settings.seller_tax_id)


async def load_invoice_document(conn: Conn, invoice_id: str, seller: Party | None = None) -> dict[str, Any]:
    """The customer document of invoice ``invoice_id`` as data (``rules/document.py``), its explanation included
    as the section "What changed since your last bill" (``changes``) and as figures (``explanation``);
    InvoiceNotFound if unknown. ``seller``: by default the SELLER_* settings."""
    seller = seller or seller_of(load_settings())
    invoice = await stored_invoice(conn, invoice_id)
    customer, jurisdiction = await _customer(conn, invoice.account_id)
    explanation, note = await explained(conn, invoice)
    document = invoice_document(
        invoice,
        seller=seller,
        customer=customer,
        credit_notes=await _credit_notes(conn, invoice_id),
        events=await _event_counts(conn, invoice),
        explanation=explanation,
        explanation_note=note,
        jurisdiction=jurisdiction,
    )
    return {**document, "explanation": explanation_data(explanation, note)}


def explanation_data(explanation: Explanation, note: str | None = None) -> dict[str, Any]:
    """The explanation's figures, JSON-ready: the change and its causes in minor units, largest first."""
    return {
        "currency": explanation.currency,
        "total_minor": explanation.total_minor,
        "previous_total_minor": explanation.previous_total_minor,
        "change_minor": explanation.change_minor,
        "coarse": note is not None,
        "note": note,
        "allowance_exhausted_on": {str(k): v.isoformat() for k, v in explanation.allowance_exhausted_on.items()},
        "causes": [
            {
                "kind": cause.kind.value,
                "amount_minor": cause.amount_minor,
                "net_minor": cause.net_minor,
                "tax_minor": cause.tax_minor,
                "detail": cause.detail,
                "service": cause.service,
                "tier": cause.tier,
                "grant_id": cause.grant_id,
                "plan": cause.plan,
                "previous_plan": cause.previous_plan,
                "units_change": cause.units_change,
                "day": None if cause.day is None else cause.day.isoformat(),
            }
            for cause in explanation.causes
        ],
    }
