"""Credit notes for the discount authority's ``credit_note`` grants: the credits context's side of the
``CreditNoteIssuer`` protocol (src/billing/discounts/rules/model.py).

The authority decides a credit note like any other grant (authority, budgets, approvals); whether the invoice can
take it and the note itself belong here, beside the credit notes of disputes. Callers hand ``CREDIT_GRANTS`` to
the authority (the API routes, dispute resolution, the tests), so the discounts context imports nothing of credits.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from billing.contracts.credit_notes import CreditSource
from billing.credits.credit_notes import NoteRequest, invoice_credit, issue_credit_note, lock_invoice
from billing.credits.rules.credit import check_credit
from billing.discounts.rules.grants import PastGrant, Refused
from billing.discounts.rules.model import CreditNoteIssuer, DiscountAsk
from billing.discounts.rules.policy import GrantKind


class CreditGrants:
    async def refusal(self, conn: asyncpg.Connection, ask: DiscountAsk) -> Refused | None:
        request = ask.request
        if request.kind is not GrantKind.CREDIT_NOTE:
            return None
        if ask.invoice_id is None:
            return Refused("invoice_issued", "invoice_issued: a credit note needs the invoice it credits")
        await lock_invoice(conn, ask.invoice_id)
        invoice = await invoice_credit(conn, ask.invoice_id, request.account_id)
        if invoice is None:
            return Refused("invoice_issued", f"invoice_issued: no issued invoice {ask.invoice_id} on this account")
        refusal = check_credit(invoice, request.amount_minor or 0, request.currency, ask.disputed_minor)
        return None if refusal is None else Refused(refusal.rule, refusal.reason)

    async def issue(self, conn: asyncpg.Connection, ask: DiscountAsk, grant: PastGrant, now: datetime) -> str:
        return (await issue_credit_note(conn, _note_request(ask, grant), now)).credit_note_number


CREDIT_GRANTS: CreditNoteIssuer = CreditGrants()


def _note_request(ask: DiscountAsk, grant: PastGrant) -> NoteRequest:
    amount = ask.request.amount_minor or 0
    if ask.dispute_id is not None:
        return NoteRequest(
            grant.grant_id,
            grant.account_id,
            ask.invoice_id or "",
            amount,
            grant.currency,
            (ask.note or ask.reason_code)[:500],
            grant.agent_id,
            CreditSource.DISPUTE,
            ask.dispute_id,
        )
    return NoteRequest(
        grant.grant_id,
        grant.account_id,
        ask.invoice_id or "",
        amount,
        grant.currency,
        f"goodwill credit: {ask.reason_code}",
        grant.agent_id,
        CreditSource.GOODWILL,
    )
