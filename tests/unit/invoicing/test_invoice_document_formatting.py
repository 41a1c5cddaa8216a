"""The invoice document's formatting, worked by hand: amounts per currency exponent and locale (EUR 2 decimals,
JPY 0, JOD 3), quantities as a customer counts them, prices per customer unit, and the sample invoice's lines."""

from __future__ import annotations

from decimal import Decimal

from invoice_document_sample import sample_document

from billing.invoicing.rules.formatting import (
    format_duration,
    format_money,
    format_quantity,
    format_rate,
    format_unit_price,
    locale_for,
    tax_name,
)

NBSP = "\u00a0"
DE, JP, JO, US = locale_for("DE"), locale_for("JP"), locale_for("JO"), locale_for("US-CA")


def test_money_has_the_currency_exponent_and_the_locale_pattern() -> None:
    # 123,456 cents = 1,234.56 EUR: German separators and the symbol after the amount in en_DE, before it in en_US.
    assert format_money(123456, "EUR", DE) == f"1.234,56{NBSP}€"
    assert format_money(123456, "EUR", US) == "€1,234.56"
    assert format_money(-5, "EUR", DE) == f"-0,05{NBSP}€"
    # JPY has 0 decimals: 2,980 minor units are 2,980 yen, no ".00".
    assert format_money(2980, "JPY", JP) == "¥2,980"
    # JOD has 3 decimals: 7,500 fils = 7.500 JOD, 5 fils = 0.005 JOD (CLDR would print JOD with 2 decimals).
    assert format_money(7500, "JOD", JO) == f"JOD{NBSP}7.500"
    assert format_money(5, "JOD", JO) == f"JOD{NBSP}0.005"


def test_unit_prices_per_customer_unit() -> None:
    # 0.14 cent per second x 60 = 8.4 cents per minute = 0.084 EUR; 0.5 yen per second = 30 yen per minute.
    assert format_unit_price(Decimal("0.14"), "second", "EUR", DE) == f"0,084{NBSP}€ / min"
    assert format_unit_price(Decimal("0.5"), "second", "JPY", JP) == "¥30 / min"
    # 0.000002 fils per byte x 1024^3 = 2,147.483648 fils = 2.147483648 JOD per GB, shown to 5 decimals.
    assert format_unit_price(Decimal("0.000002"), "byte", "JOD", JO) == f"JOD{NBSP}2.14748 / GB"
    assert format_unit_price(Decimal("12.5"), "message", "JOD", JO) == f"JOD{NBSP}0.0125 / message"


def test_quantities_as_a_customer_counts_them() -> None:
    assert format_duration(2833) == "47 min 13 s"  # 47 x 60 + 13
    assert format_duration(7200) == "2 h"
    assert format_quantity(1_610_612_736, "byte", US) == "1.50 GB"  # 1.5 x 1024^3
    assert format_quantity(12, "message", US) == "12 messages"
    assert (format_rate(1900), format_rate(Decimal("1497.5"))) == ("19 %", "14.975 %")
    assert (tax_name("DE"), tax_name("US-CA"), tax_name("JP")) == ("VAT", "Sales tax", "Consumption tax")


def test_the_sample_invoice_reads_as_worked_by_hand() -> None:
    # November on mobile-s v2 for 16 of 30 days (10.99 x 16 / 30 = 5.861 -> 5.86) and mobile-l for 14 (29.99 x
    # 14 / 30 = 13.995 -> 14.00); voice 9,833 s against 6,000 x 16 / 30 = 3,200 s included: 6,000 s in tier 1 at
    # 0.14 ct/s = 8.40, 633 s in tier 2 at 0.08 ct/s = 50.64 -> 0.51.
    document = sample_document()
    plan_s = document["groups"][0]["rows"][0]
    assert (plan_s["detail"], plan_s["amount"]) == (f"16 of 30 days of 10,99{NBSP}€", f"5,86{NBSP}€")
    voice = next(group for group in document["groups"] if group["title"] == "Voice (mobile-s v2)")
    assert voice["used"] == "12 calls, 2 h 43 min 53 s"  # 9,833 s
    included, tier1, tier2 = voice["rows"]
    assert included["detail"] == "allowance 53 min 20 s: 0 s left"  # 3,200 s
    assert (tier1["quantity"], tier1["amount"], tier1["detail"]) == (
        "1 h 40 min",
        f"8,40{NBSP}€",
        "first 1 h 40 min beyond the allowance",
    )
    assert (tier2["quantity"], tier2["unit_price"], tier2["amount"]) == (
        "10 min 33 s",
        f"0,048{NBSP}€ / min",
        f"0,51{NBSP}€",
    )
    assert document["late_usage"][0]["title"] == "Late SMS usage of 1 Oct 2026 - 31 Oct 2026"
    # 10 % of the subtotal 29.67 = 2.967 -> 2.97; the fixed 5.00 grant is used whole, nothing carried forward.
    percent, fixed = document["reductions"]
    assert (percent["title"], percent["amount"]) == ("Discount 10 %", f"-2,97{NBSP}€")
    assert fixed["detail"] == f"grant grant-500; 0,00{NBSP}€ carried forward to your next bill"
    # taxable 29.67 - 7.97 = 21.70; VAT 19 % = 4.123 -> 4.12; total 25.82; less the 2.50 credit note: 23.32.
    assert (document["tax"]["label"], document["tax"]["amount"]) == ("VAT 19 % (Germany)", f"4,12{NBSP}€")
    assert (document["total"], document["remaining"]) == (f"25,82{NBSP}€", f"23,32{NBSP}€")
    causes = document["changes"]["causes"]
    assert sum(cause["amount_minor"] for cause in causes) == document["changes"]["change_minor"] == 2582 - 1308
    assert "Voice usage went beyond the allowance on 9 Nov 2026" in [cause["text"] for cause in causes]
