"""One ISO 4217 table for every part of the code base, a JOD month (3 decimals) rated and invoiced by hand, a
catalog refusing accounts it cannot bill, and tax rates with a fraction of a basis point (Quebec's 14.975 %)."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from tests.unit.invoicing.billing_test_factories import open_tier, plan_dict, service

import billing.contracts.money
from billing import money as billing_money
from billing.entrypoints.cli.billing_commands import money
from billing.invoicing.rules import inputs
from billing.invoicing.rules.calculation import build_invoice
from billing.invoicing.rules.catalog import Catalog, CatalogError, demo_catalog
from billing.invoicing.rules.close_model import DueAccount, PlanChange, UsageRow
from billing.invoicing.rules.cycles import Cycle
from billing.invoicing.rules.invoice_model import InvoiceInput, PlanSegment
from billing.money import CURRENCY_EXPONENTS, currency_exponent, percent_of, to_major_units
from billing.usage.rules.rating import AccountView, RatingLimits, rate_batch
from billing.usage.rules.usage_record import Usage

ROOT = Path(__file__).resolve().parents[3]
GIB = 1 << 30
NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)
NOVEMBER = Cycle(date(2026, 11, 1), date(2026, 12, 1))


@pytest.mark.parametrize(
    ("code", "exponent"),
    [
        ("JPY", 0),
        ("KRW", 0),
        ("CLP", 0),
        ("ISK", 0),
        ("EUR", 2),
        ("USD", 2),
        ("CAD", 2),
        ("BHD", 3),
        ("JOD", 3),
        ("KWD", 3),
        ("OMR", 3),
        ("TND", 3),
        ("LYD", 3),
        ("IQD", 3),
        ("CLF", 4),
        ("UYW", 4),
    ],
)
def test_every_iso_exponent_is_known_to_the_billing_core(code: str, exponent: int) -> None:
    assert currency_exponent(code) == exponent


def test_the_schemas_use_the_billing_table_itself() -> None:
    assert billing.contracts.money.CURRENCY_EXPONENTS is billing_money.CURRENCY_EXPONENTS
    assert len(CURRENCY_EXPONENTS) > 150 and set(CURRENCY_EXPONENTS.values()) == {0, 2, 3, 4}
    # Codes without minor units in ISO 4217 (precious metals, SDR, testing, no currency) cannot be billed.
    for code in ("XAU", "XDR", "XTS", "XXX"):
        with pytest.raises(ValueError, match=code):
            billing.contracts.money.currency_exponent(code)


def test_only_one_currency_table_in_the_code_base() -> None:
    files = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    entry = re.compile(r'"[A-Z]{3}": [0-4]\b')  # a table row such as "JOD": 3
    holders = [
        path
        for path in files.stdout.split()
        if not path.startswith("tests/") and len(entry.findall((ROOT / path).read_text(encoding="utf-8"))) >= 3
    ]
    assert holders == ["src/billing/money.py"]


def test_formatting_follows_the_currency() -> None:
    assert money(14_427, "JOD") == "14.427 JOD"
    assert money(3_372, "JPY") == "3372 JPY"
    assert money(12_345, "CLF") == "1.2345 CLF"
    assert to_major_units(-5, "KWD") == Decimal("-0.005")


def _rated_jod_month(usage: list[tuple[str, int, int]]) -> list[UsageRow]:
    """Rate like a worker (src/billing/usage/rules/rating.py), then sum per cycle_usage row as PostgreSQL does."""
    records = [
        Usage(
            f"ev-{n}",
            "acc-jo",
            f"cdr-{n}",
            svc,
            quantity,
            "unit",
            NOV_1 + timedelta(days=day),
            NOV_1 + timedelta(days=day),
            "test",
        )
        for n, (svc, quantity, day) in enumerate(usage)
    ]
    account = AccountView("acc-jo", 1, NOV_1, None, ((NOV_1, "mobile-jo"),))
    limits = RatingLimits(NOV_1 + timedelta(days=31), timedelta(minutes=5), timedelta(days=1), timedelta(days=60))
    outcome = rate_batch(records, {"acc-jo": account}, demo_catalog(), limits)
    assert not outcome.refused and not outcome.parked
    totals: dict[tuple, int] = {}
    for _, row in outcome.rated:
        key = (row.cycle_start, row.plan_id, row.plan_version, row.usage.service)
        totals[key] = totals.get(key, 0) + row.billable_units
    return [UsageRow(None, "acc-jo", *key, units, 0) for key, units in sorted(totals.items())]


def test_a_jod_month_is_rated_and_invoiced_in_fils() -> None:
    usage = _rated_jod_month(
        [
            ("voice", 25, 1),
            ("voice", 9000, 2),
            ("voice", 3200, 3),  # 60/1: 60 + 9000 + 3200 = 12260 s
            *(("sms", 1, 4) for _ in range(53)),  # 53 messages, 50 included
            ("data", 6 * GIB, 5),  # whole kB: 6 GiB, 5 GiB included
        ]
    )
    account = DueAccount("acc-jo", "JOD", "JO", 1, NOVEMBER.start, NOVEMBER.end, None)
    draft = inputs.without_stand_in(
        build_invoice(
            inputs.invoice_input(
                inputs.PlanCalendar(demo_catalog()),
                account,
                inputs.billing_period(account),
                [PlanChange("mobile-jo", NOV_1)],
                usage,
                [],
                NOV_1 + timedelta(days=31),
            )
        )
    )
    amounts = {line.line_id: (line.amount_minor, line.units) for line in draft.lines}
    # mobile-jo v1, in fils (1/1000 JOD): fee 7500.
    # Voice: 12260 - 3000 included = 9260 s; tier 1 6000 x 0.35 = 2100; tier 2 3260 x 0.2 = 652.
    # SMS: 3 x 12.5 = 37.5 -> 38 (half up). Data: 1 GiB = 1,073,741,824 B x 0.000002 = 2147.483648 -> 2147.
    # Subtotal 7500 + 2100 + 652 + 38 + 2147 = 12437; tax JO 16 %: 1989.92 -> 1990; total 14427 = 14.427 JOD.
    assert amounts == {
        "recurring:mobile-jo:v1": (7500, 30),
        "usage:mobile-jo:v1:voice:included": (0, 3000),
        "usage:mobile-jo:v1:voice:tier1": (2100, 6000),
        "usage:mobile-jo:v1:voice:tier2": (652, 3260),
        "usage:mobile-jo:v1:sms:included": (0, 50),
        "usage:mobile-jo:v1:sms:tier1": (38, 3),
        "usage:mobile-jo:v1:data:included": (0, 5 * GIB),
        "usage:mobile-jo:v1:data:tier1": (2147, GIB),
        "tax": (1990, None),
    }
    assert (draft.currency, draft.subtotal_minor, draft.tax_minor, draft.total_minor) == ("JOD", 12437, 1990, 14427)
    assert money(draft.total_minor, draft.currency) == "14.427 JOD"


@pytest.mark.parametrize(
    ("plan", "currency", "jurisdiction", "reason"),
    [
        ("mobile-jo", "JOD", "JO", None),
        ("mobile-s", "USD", "DE", "no plan of the catalog is priced in USD"),
        ("mobile-s", "CLF", "DE", "no plan of the catalog is priced in CLF"),
        ("mobile-s", "JPY", "DE", "plan 'mobile-s' is priced in EUR, not in the account's currency JPY"),
        ("mobile-xl", "EUR", "DE", "plan 'mobile-xl' is not in the catalog"),
        ("mobile-s", "EUR", "BR-SP", "the catalog has no tax rate for jurisdiction 'BR-SP'"),
    ],
)
def test_the_catalog_says_why_an_account_could_never_be_billed(plan, currency, jurisdiction, reason) -> None:
    found = demo_catalog().unbillable_reason(plan, currency, jurisdiction)
    assert found == reason if reason is None else found.startswith(reason)


def _quebec_catalog(rate: object) -> Catalog:
    plan = plan_dict("qc-basic", "CAD", 100_000, {"sms": service(0, (1, 1), [open_tier("25")])})
    return Catalog.from_dict({"taxes": {"CA": 500, "CA-QC": rate}, "plans": [plan]})


def test_a_fractional_basis_point_tax_rate_is_parsed_exactly_and_rounded_once() -> None:
    catalog = _quebec_catalog("1497.5")  # GST 5 % + QST 9.975 % = 14.975 %
    assert catalog.taxes.rate_bp("CA-QC") == Decimal("1497.5")
    assert catalog.taxes.rate_bp("CA-ON") == 500  # falls back to "CA"
    plan = catalog.plan_version("qc-basic", 1)
    draft = build_invoice(
        InvoiceInput(
            account_id="acc-qc",
            currency="CAD",
            cycle=NOVEMBER,
            plan_segments=(PlanSegment(plan, NOVEMBER.start, NOVEMBER.end),),
            usage_totals={("qc-basic", 1, "sms"): 1},
            tax_rate_bp=catalog.taxes.rate_bp("CA-QC"),
        )
    )
    # Fee 100000 + one SMS at 25 = 100025 cents; tax 100025 x 14.975 % = 14978.74375 -> 14979 (once, half up).
    # With the rate cut to 1497 bp it would be 14973.74 -> 14974, with 1498 bp 14983.75 -> 14984.
    assert (draft.subtotal_minor, draft.tax_minor, draft.total_minor) == (100_025, 14_979, 115_004)
    tax_line = next(line for line in draft.lines if line.line_id == "tax")
    assert tax_line.description == "tax 14.975 %"
    # A tie is rounded half up once: 1000 x 14.975 % = 149.75 -> 150; 10 x 14.975 % = 1.4975 -> 1.
    assert (percent_of(1000, Decimal("1497.5")), percent_of(10, Decimal("1497.5"))) == (150, 1)


@pytest.mark.parametrize("rate", [14.975, "14,975", "-1", "NaN", True])
def test_a_tax_rate_that_is_not_exact_basis_points_is_refused(rate: object) -> None:
    with pytest.raises(CatalogError, match="taxes"):
        _quebec_catalog(rate)
