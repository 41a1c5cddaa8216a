"""How amounts, quantities and prices read on a customer's invoice.

Money: Babel (CLDR) gives each locale's symbol, separators and pattern ("1.234,56 €" in Germany, "€1,234.56" in
Ireland); the number of decimals is always the currency's ISO exponent from ``money.py`` (JPY 0, EUR 2, JOD 3),
never CLDR's display precision, because the amounts are ISO minor units and must print exactly. The document is
in English, so the locale is English as written in the account's country (``en_DE``), or plain ``en``.

Quantities: rated units in the units a customer counts: seconds as "47 min 13 s", bytes as "1.50 GB" (1 GB =
1024^3 bytes, the way plan allowances are sold), messages as "12 messages". Prices per rated unit are shown per
customer unit: a voice price per second as a price per minute, a data price per byte as a price per GB.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_decimal, parse_pattern

from billing.money import currency_exponent, to_major_units

KIB = 1024
_BYTE_UNITS = (("GB", KIB**3), ("MB", KIB**2), ("KB", KIB))
# The unit a price is quoted in, per rated unit: (name, rated units in it).
_PRICE_UNITS = {"second": ("min", 60), "byte": ("GB", KIB**3), "message": ("message", 1)}
_EVENT_NAMES = {"voice": ("call", "calls"), "sms": ("message", "messages"), "data": ("session", "sessions")}
# Value-added tax in the EU and most of the world; the US and Jordan call theirs a sales tax, Japan a consumption tax.
_TAX_NAMES = {
    "US": "Sales tax",
    "JO": "Sales tax",
    "JP": "Consumption tax",
    "CA": "Sales tax",
    "AU": "GST",
    "NZ": "GST",
}


def locale_for(jurisdiction: str | None) -> Locale:
    """English as used in the jurisdiction's country (en_DE: 1.234,56 €), or en where CLDR has no such locale."""
    country = (jurisdiction or "").split("-")[0]
    try:
        return Locale.parse(f"en_{country}") if country else Locale.parse("en")
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def format_money(amount_minor: int, currency: str, locale: Locale) -> str:
    """``amount_minor`` of ``currency`` with exactly the currency's decimals, in the locale's currency pattern."""
    exponent = currency_exponent(currency)
    return _currency_text(to_major_units(amount_minor, currency), currency, locale, (exponent, exponent))


def format_unit_price(price_minor_per_unit: Decimal, unit: str | None, currency: str, locale: Locale) -> str:
    """A tier's price per customer unit, e.g. 0.15 cent per second -> "€0.09 / min"; sub-cent prices keep up to
    two more decimals than the currency has (trailing zeros dropped), so a price is never rounded to zero."""
    name, per = _PRICE_UNITS.get(unit or "", (unit or "unit", 1))
    major = (price_minor_per_unit * per).scaleb(-currency_exponent(currency))
    exponent = currency_exponent(currency)
    return f"{_currency_text(major, currency, locale, (exponent, exponent + 2))} / {name}"


def _currency_text(value: Decimal, currency: str, locale: Locale, digits: tuple[int, int]) -> str:
    pattern = parse_pattern(locale.currency_formats["standard"])  # a fresh copy: Babel caches the locale's own
    pattern.frac_prec = digits
    text = str(pattern.apply(value, locale, currency=currency, currency_digits=False))
    # CLDR's patterns put a symbol right against the digits ("¤#,##0.00"); a code such as JOD needs a space.
    if (text[:3] == currency and text[3:4].isdigit()) or text[:4] == f"-{currency}":
        text = text.replace(currency, f"{currency}\u00a0", 1)
    return text


def format_number(value: int | Decimal, locale: Locale, decimals: int = 0) -> str:
    return str(format_decimal(value, format=f"#,##0{'.' + '0' * decimals if decimals else ''}", locale=locale))


def format_duration(seconds: int) -> str:
    """4033 -> "1 h 7 min 13 s"; 2833 -> "47 min 13 s"; 60 -> "1 min"."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "", f"{secs} s" if secs else ""]
    return " ".join(part for part in parts if part) or "0 s"


def format_bytes(count: int, locale: Locale) -> str:
    for name, size in _BYTE_UNITS:
        if count >= size:
            return f"{format_number(Decimal(count) / size, locale, 2)} {name}"
    return f"{format_number(count, locale)} B"


def format_quantity(units: int, unit: str | None, locale: Locale) -> str:
    """Rated units as the customer counts them: "47 min 13 s", "1.50 GB", "12 messages"."""
    if unit == "second":
        return format_duration(units)
    if unit == "byte":
        return format_bytes(units, locale)
    if unit == "message":
        return f"{format_number(units, locale)} message{'' if units == 1 else 's'}"
    return f"{format_number(units, locale)} {unit or 'units'}"


def format_events(service: str, events: int, locale: Locale) -> str:
    """12 voice events -> "12 calls"."""
    one, many = _EVENT_NAMES.get(service, ("event", "events"))
    return f"{format_number(events, locale)} {one if events == 1 else many}"


def format_rate(basis_points: Decimal | int) -> str:
    """1900 -> "19 %", 1497.5 -> "14.975 %"."""
    return f"{Decimal(basis_points).scaleb(-2).normalize():f} %"


def tax_name(jurisdiction: str | None) -> str:
    return _TAX_NAMES.get((jurisdiction or "").split("-")[0], "VAT")


def territory_name(jurisdiction: str | None, locale: Locale) -> str:
    """ "DE" -> "Germany", "US-CA" -> "United States (US-CA)"."""
    if not jurisdiction:
        return ""
    country = jurisdiction.split("-")[0]
    name = locale.territories.get(country, country)
    return name if jurisdiction == country else f"{name} ({jurisdiction})"


def format_day(day: date, locale: Locale) -> str:
    return format_date(day, format="medium", locale=locale)
