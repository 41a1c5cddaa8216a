"""One invoice of the account behind a held task, as the customer document and its explanation (issue 12 point 2).

The verified caller only (``verified_task``): an invoice discloses the account's amounts. The invoice must be the
task's account's: another account's invoice answers 404, as an unknown one does, so ids cannot be probed.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRouter

from billing.care.rules.queue_model import QueueTask
from billing.contracts.base import Identifier
from billing.entrypoints.api.access import verified_task
from billing.entrypoints.api.audit import note_result
from billing.entrypoints.api.auth import admits, services
from billing.entrypoints.api.errors import not_found
from billing.entrypoints.api.services import ApiServices
from billing.identity.rules.masking import scrub_cards
from billing.identity.rules.roles import WORKERS
from billing.invoicing.documents import InvoiceNotFound, load_invoice_document, seller_of, stored_invoice
from billing.invoicing.rendering import render_html

router = APIRouter(tags=["accounts"])


@router.get("/tasks/{task_id}/invoices/{invoice_id}", name="accounts.invoice", **admits(WORKERS))
async def show_invoice(
    invoice_id: Identifier,
    request: Request,
    output: Literal["json", "html"] = Query(
        "json", alias="format", description="json: the document's data and explanation; html: the page."
    ),
    task: QueueTask = Depends(verified_task),
    svc: ApiServices = Depends(services),
) -> Any:
    """The customer invoice (seller, customer, lines with quantities and unit prices, tax, total, credit notes) and
    "What changed since your last bill"; ``?format=html`` answers the self-contained HTML page."""
    pool = await svc.pool()
    async with pool.acquire() as conn:
        try:
            invoice = await stored_invoice(conn, invoice_id)
            if invoice.account_id != task.account_id:
                raise InvoiceNotFound(invoice_id)
            # Card numbers in line texts are cut to their last 4 digits, as in the account view: an agent never
            # needs the full number, even for a verified caller.
            document = scrub_cards(await load_invoice_document(conn, invoice_id, seller_of(svc.settings)))
        except InvoiceNotFound:
            raise not_found(f"no invoice {invoice_id} of this account") from None
    note_result(request, "shown")
    if output == "html":
        return HTMLResponse(render_html(document))
    return {"task_id": task.task_id, "account_id": task.account_id, "invoice": document}
