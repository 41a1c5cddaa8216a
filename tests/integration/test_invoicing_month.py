"""A telecom month through the real topics and workers, closed by the real closer, checked to the minor unit.

Every amount below is worked out by hand from the demo catalog (src/billing/invoicing/rules/catalog_demo_data.py):
    mobile-s v2 (from 2026-07-01): fee 1099; voice 6000 s included, 60/1, tiers 6000 s @ 0.14 then @ 0.08;
                                   sms 100 included; data 2 GiB included. EUR cents.
    mobile-l v1: fee 2999; voice 60000 s included, 60/1; sms 100; data 20 GiB (per started kB).
    mobile-jp v1: fee 2980 JPY (0 decimals); voice 0 included, 30/30 @ 0.5 yen/s; sms @ 3.3; data 3 GiB included.
    Tax DE 19 %, JP 10 %. One rounding rule: half up, once per line; tax once on the subtotal.

The scenario month is November 2026, anchor day 1. It runs on the dated stack (tests/integration/conftest.py),
whose workers run no closer (CLOSER_ENABLED=false): November cycles stay open until this test closes them
explicitly, for its own accounts only, "as of" 2 December (the cycle end plus the one-day grace), on any calendar
date. (On the session stack, other tests' usage stamped "now" moves the workers' event-time clock; after
2 December 2026 their closer would close November before the late usage below arrives.)
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import orjson
import pytest

from billing.contracts.usage import ServiceKind
from billing.platform.settings import Settings
from tests.integration.helpers import fetch, fetchval, unique
from tests.integration.invoicing_helpers import (
    amounts,
    assert_gap_free,
    close_for,
    find_on_topic,
    invoice_of,
    nov,
    opened,
    plan_changed,
    publish_and_wait,
    series_numbers,
    used,
)

pytestmark = pytest.mark.integration
NOV_CLOSE = datetime(2026, 12, 2, tzinfo=UTC)  # 2026-12-01 cycle end + 1 day grace
DEC_CLOSE = datetime(2027, 1, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def live(dated_stack) -> Settings:
    return dated_stack.settings


async def test_eur_month_with_plan_change_tiers_and_late_usage_then_jpy_month(live) -> None:
    eur, jpy = unique("eur"), unique("jpy")
    accounts = [
        opened(eur, "mobile-s", "EUR", "DE", nov(1, 0)),
        plan_changed(eur, "mobile-l", nov(16, 0)),  # 15 days on mobile-s v2, 15 days on mobile-l v1
        opened(jpy, "mobile-jp", "JPY", "JP", nov(1, 0)),
    ]
    usage = [
        # mobile-s voice, 60/1: 25 s -> 60, 61 s -> 61, 2939 s -> 2939, 7000 s -> 7000; sum 10060 s.
        # Prorated allowance 6000 x 15/30 = 3000 s: running sum 60, 121, 3060 crosses it on 5 November.
        used(eur, ServiceKind.VOICE, 25, nov(2)),
        used(eur, ServiceKind.VOICE, 61, nov(3)),
        used(eur, ServiceKind.VOICE, 2939, nov(5)),
        used(eur, ServiceKind.VOICE, 7000, nov(8)),
        *(used(eur, ServiceKind.SMS, 1, nov(9)) for _ in range(3)),  # 3 of the 100 x 15/30 = 50 included
        # mobile-l from 16 November: 59 s -> 60, 120 s -> 120; 180 s inside 60000 x 15/30 = 30000 s.
        used(eur, ServiceKind.VOICE, 59, nov(18)),
        used(eur, ServiceKind.VOICE, 120, nov(20)),
        used(eur, ServiceKind.DATA, 1500, nov(19)),  # one started kB: 1500 B -> 2048 B, inside 10 GiB
        # JPY, voice 30/30: 45 s -> 60, 31 s -> 60, 10 s -> 30; 150 s x 0.5 = 75 yen.
        used(jpy, ServiceKind.VOICE, 45, nov(2)),
        used(jpy, ServiceKind.VOICE, 31, nov(3)),
        used(jpy, ServiceKind.VOICE, 10, nov(4)),
        *(used(jpy, ServiceKind.SMS, 1, nov(5)) for _ in range(3)),  # 3 x 3.3 = 9.9 -> 10 yen
        used(jpy, ServiceKind.DATA, 1 << 30, nov(6)),  # 1 GiB, whole kB, inside 3 GiB
    ]
    await publish_and_wait(live, accounts, usage)
    # Other tests close cycles on this stack in the stack's series; this test's own series makes its numbers
    # its own to predict.
    own = live.model_copy(update={"invoice_series": unique("MT").replace("-", "")})  # a series has no '-'

    first = await close_for(own, [eur, jpy], NOV_CLOSE)
    assert (first.issued, first.held, first.errors) == (2, 0, [])

    november = await invoice_of(live, eur, date(2026, 11, 1))
    # Fees: 1099 x 15/30 = 549.5 -> 550; 2999 x 15/30 = 1499.5 -> 1500.
    # Voice on mobile-s: chargeable 10060 - 3000 = 7060 s; tier 1: 6000 x 0.14 = 840.00 -> 840;
    #   tier 2: 1060 x 0.08 = 84.80 -> 85.
    # Subtotal 550 + 1500 + 840 + 85 = 2975; tax 2975 x 19 % = 565.25 -> 565; total 3540.
    assert amounts(november) == {
        "recurring:mobile-s:v2": (550, None),
        "recurring:mobile-l:v1": (1500, None),
        "usage:mobile-s:v2:voice:included": (0, 3000),
        "usage:mobile-s:v2:voice:tier1": (840, 6000),
        "usage:mobile-s:v2:voice:tier2": (85, 1060),
        "usage:mobile-s:v2:sms:included": (0, 3),
        "usage:mobile-l:v1:voice:included": (0, 180),
        "usage:mobile-l:v1:data:included": (0, 2048),
        "tax": (565, None),
    }
    assert (november["subtotal_minor"], november["tax_minor"], november["total_minor"]) == (2975, 565, 3540)
    assert (november["status"], november["currency"], november["due_date"]) == ("issued", "EUR", date(2026, 12, 16))

    yen = await invoice_of(live, jpy, date(2026, 11, 1))
    # Fee 2980 (whole month); voice 75; sms 10. Subtotal 3065; tax 3065 x 10 % = 306.5 -> 307; total 3372 yen.
    assert amounts(yen) == {
        "recurring:mobile-jp:v1": (2980, None),
        "usage:mobile-jp:v1:voice:tier1": (75, 150),
        "usage:mobile-jp:v1:sms:tier1": (10, 3),
        "usage:mobile-jp:v1:data:included": (0, 1 << 30),
        "tax": (307, None),
    }
    assert (yen["subtotal_minor"], yen["tax_minor"], yen["total_minor"], yen["currency"]) == (3065, 307, 3372, "JPY")

    # Closing again changes nothing: nothing is due, the rows are as they were.
    before = await fetch(
        live.require_database_url(), "SELECT * FROM invoices WHERE account_id = ANY($1) ORDER BY 1", [eur, jpy]
    )
    again = await close_for(own, [eur, jpy], NOV_CLOSE)
    assert (again.issued, again.held, again.skipped) == (0, 0, 0)
    assert (
        await fetch(
            live.require_database_url(), "SELECT * FROM invoices WHERE account_id = ANY($1) ORDER BY 1", [eur, jpy]
        )
        == before
    )

    # Late usage: a 500 s mobile-s call of 10 November arrives after November closed.
    await publish_and_wait(live, [], [used(eur, ServiceKind.VOICE, 500, nov(10))])
    december = await close_for(own, [eur], DEC_CLOSE)
    assert (december.issued, december.errors) == (1, [])
    invoice = await invoice_of(live, eur, date(2026, 12, 1))
    # The late line is the difference it makes to its own cycle, priced as November priced its usage: with the
    # allowance prorated to mobile-s's 15 days (3000 s). 10060 s billed -> 840 + 85 = 925 (above); with 500 s
    # more: 7560 s chargeable, tier 1 840, tier 2 1560 x 0.08 = 124.80 -> 125; the adjustment is 965 - 925 = 40.
    # (It was 70, priced with the full 6000 s allowance: issue 16, point 6.)
    # December on mobile-l the whole cycle: 2999. Subtotal 2999 + 40 = 3039; tax 577.41 -> 577; total 3616.
    assert amounts(invoice) == {
        "recurring:mobile-l:v1": (2999, None),
        "adjustment:2026-11-01:mobile-s:v2:voice": (40, 500),
        "tax": (577, None),
    }
    assert invoice["total_minor"] == 3616
    late = next(line for line in orjson.loads(invoice["lines_json"]) if line["kind"] == "adjustment")
    assert "2026-11-01" in late["description"]

    # Every invoice went out on the invoice topic, the same invoice the row holds.
    events = await find_on_topic(
        live, "billing.invoice-issued.v1", {f"invoice-issued:{r['invoice_id']}" for r in (november, yen, invoice)}
    )
    assert {e["payload"]["invoice_number"]: e["payload"]["total_minor"] for e in events.values()} == {
        november["invoice_number"]: 3540,
        yen["invoice_number"]: 3372,
        invoice["invoice_number"]: 3616,
    }
    # The ledger projection saw its own invoices come back and wrote no second row for them.
    assert (
        await fetchval(
            live.require_database_url(), "SELECT count(*) FROM invoices_issued WHERE account_id = ANY($1)", [eur, jpy]
        )
        == 0
    )
    # Its own series: the two November invoices (issued 2 December 2026) are 1 and 2 of 2026, in either order
    # (one batch); the December one (issued 2 January 2027) is 1 of 2027.
    series = own.invoice_series
    assert {november["invoice_number"], yen["invoice_number"]} == {f"{series}-2026-000001", f"{series}-2026-000002"}
    assert invoice["invoice_number"] == f"{series}-2027-000001"
    assert await series_numbers(live, series) == (
        {f"{series}-2026": [1, 2], f"{series}-2027": [1]},
        {f"{series}-2026": 3, f"{series}-2027": 2},
    )
    # The stack's series, which other tests number concurrently, is gap-free as a whole.
    await assert_gap_free(live, live.invoice_series)
