"""The customer invoice document of an invoice issued by our own closer (no upstream invoice seeded): the route
answers it to the verified caller of a task for the account and refuses everyone else, and the CLI shows,
explains and renders it to HTML and a PDF whose text has the total.

The account (mobile-s v2, EUR, DE 19 %, anchor day 1) opens on 1 October 2026 at 00:00 UTC, so both cycles are
whole (31 and 30 days) and no fee is prorated:
  October:  one 100 s call (60/1 increment: 100 s), inside the 6,000 s allowance.
            fee 10.99 + usage 0 = 10.99; tax 19 % of 1,099 = 208.81 -> 209; total 1,308 = 13.08 EUR
  November: two 3,600 s calls on 3 and 10 November = 7,200 s; 6,000 s included, 1,200 s in tier 1 at 0.14 ct/s
            = 168; fee 1,099 + 168 = 1,267; tax 19 % = 240.73 -> 241; total 1,508 = 15.08 EUR
  change:   1,508 - 1,308 = +200: one cause, the voice allowance ran out on 10 November (3,600 + 3,600 > 6,000):
            168 of usage + its tax share 19 % of 168 = 31.92 -> 32 (tax 241 - 209 = 32: no rounding residue)
Runs on the dated stack (its workers close no cycle on their own), so the usage is in before the cycle closes.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from billing.contracts.usage import ServiceKind
from billing.entrypoints.cli.main import main
from billing.platform.settings import Settings
from tests.integration.agent_api_helpers import bearer, held_task
from tests.integration.helpers import unique
from tests.integration.invoicing_helpers import close_for, invoice_of, opened, publish_and_wait, used

pytestmark = pytest.mark.integration
VOICE = ServiceKind.VOICE


@pytest.fixture(scope="module")
def live(dated_stack) -> Settings:
    return dated_stack.settings


async def _cli(live: Settings, *args: str):
    # The commands run their own event loop (asyncio.run): off this test's loop, in a thread.
    env = {"DATABASE_URL": live.require_database_url()}
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)


async def test_our_invoice_as_a_document_for_the_verified_caller_and_the_cli(live, agent_api, tmp_path: Path) -> None:
    account, other = unique("doc"), unique("doc-other")
    start = datetime(2026, 10, 1, tzinfo=UTC)
    await publish_and_wait(
        live,
        [opened(account, "mobile-s", "EUR", "DE", start), opened(other, "mobile-s", "EUR", "DE", start)],
        [
            used(account, VOICE, 100, datetime(2026, 10, 5, 9, tzinfo=UTC)),
            used(account, VOICE, 3600, datetime(2026, 11, 3, 9, tzinfo=UTC)),
            used(account, VOICE, 3600, datetime(2026, 11, 10, 9, tzinfo=UTC)),
        ],
    )
    await close_for(live, [account, other], datetime(2026, 12, 3, tzinfo=UTC))
    october, november = (
        await invoice_of(live, account, date(2026, 10, 1)),
        await invoice_of(live, account, date(2026, 11, 1)),
    )
    assert (october["total_minor"], november["total_minor"]) == (1308, 1508)
    invoice_id = november["invoice_id"]

    client, pool = agent_api["client"], agent_api["pool"]
    task_id, _call, token = await held_task(pool, account, verified=True)
    response = await client.get(f"/tasks/{task_id}/invoices/{invoice_id}", headers=bearer(token))
    assert response.status_code == 200, response.text
    document = response.json()["invoice"]
    assert document["number"] == november["invoice_number"] and document["origin"] == "billing"
    assert document["total"] == "15,08\u00a0€" and document["tax"]["label"] == "VAT 19 % (Germany)"
    voice = next(group for group in document["groups"] if group["title"] == "Voice (mobile-s v2)")
    assert voice["used"] == "2 calls, 2 h"  # 7,200 s in 2 events
    tier = next(row for row in voice["rows"] if row["title"] == "Voice tier 1")
    assert (tier["quantity"], tier["unit_price"], tier["amount"]) == ("20 min", "0,084\u00a0€ / min", "1,68\u00a0€")
    explanation = document["explanation"]
    assert explanation["change_minor"] == 200 and not explanation["coarse"]
    assert [(c["kind"], c["amount_minor"], c["day"]) for c in explanation["causes"]] == [
        ("allowance_exhausted", 200, "2026-11-10")
    ]
    html = await client.get(f"/tasks/{task_id}/invoices/{invoice_id}?format=html", headers=bearer(token))
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    assert "What changed since your last bill" in html.text and "15,08" in html.text

    # Refused: a caller not verified on this call (403), another account's task (404), an unknown invoice (404).
    unverified_task, _call, unverified_token = await held_task(pool, account)
    refused = await client.get(f"/tasks/{unverified_task}/invoices/{invoice_id}", headers=bearer(unverified_token))
    assert refused.status_code == 403 and refused.json()["error"] == "caller_not_verified"
    other_task, _call, other_token = await held_task(pool, other, verified=True)
    assert (
        await client.get(f"/tasks/{other_task}/invoices/{invoice_id}", headers=bearer(other_token))
    ).status_code == 404
    assert (await client.get(f"/tasks/{task_id}/invoices/inv-nope", headers=bearer(token))).status_code == 404
    assert (await client.get(f"/tasks/{task_id}/invoices/{invoice_id}", headers=bearer(other_token))).status_code == 403

    shown = await _cli(live, "invoices", "show", invoice_id)
    assert shown.exit_code == 0, shown.output
    assert "15,08" in shown.output and "VAT 19 %" in shown.output
    explained = await _cli(live, "invoices", "explain", invoice_id)
    assert explained.exit_code == 0 and "went beyond the allowance on 10 Nov 2026" in explained.output
    html_file, pdf_file = tmp_path / "invoice.html", tmp_path / "invoice.pdf"
    rendered = await _cli(live, "invoices", "render", invoice_id, "--html", str(html_file), "--pdf", str(pdf_file))
    assert rendered.exit_code == 0, rendered.output
    assert "<link" not in html_file.read_text() and "<script" not in html_file.read_text()  # self-contained
    text = "".join(page.extract_text() for page in PdfReader(pdf_file).pages)
    assert "15,08" in text and november["invoice_number"] in text
    unknown = await _cli(live, "invoices", "show", "inv-nope")
    assert unknown.exit_code == 2 and "there is no invoice inv-nope" in unknown.output
