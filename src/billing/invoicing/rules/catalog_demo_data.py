"""Demo catalog in the plain-dict layout documented in ``catalog.py``.

Prices are minor units per billing unit: EUR cents per second / message /
byte, JPY yen and JOD fils (3 decimals) per second / message / byte. Data is rated in bytes and
rounded up to started kB (1024/1024); 0.0000001 cent per byte is about
1.07 EUR per GiB beyond the allowance.
"""

from __future__ import annotations

from typing import Any

_GIB = 1024**3
_PER_SECOND_AFTER_FIRST_MINUTE = {"first": 60, "then": 1}
_PER_STARTED_HALF_MINUTE = {"first": 30, "then": 30}
_PER_MESSAGE = {"first": 1, "then": 1}
_PER_STARTED_KB = {"first": 1024, "then": 1024}


def _open_tier(unit_price: str) -> dict[str, Any]:
    return {"up_to_units": None, "unit_price": unit_price}


def _eur_services(voice_included_s: int, data_included: int, voice_prices: tuple[str, str]) -> dict[str, Any]:
    first_tier_price, later_price = voice_prices
    return {
        "voice": {
            "unit": "second",
            "included_units": voice_included_s,
            "increment": _PER_SECOND_AFTER_FIRST_MINUTE,
            "tiers": [
                {"up_to_units": 6000, "unit_price": first_tier_price},
                _open_tier(later_price),
            ],
        },
        "sms": {
            "unit": "message",
            "included_units": 100,
            "increment": _PER_MESSAGE,
            "tiers": [_open_tier("9")],
        },
        "data": {
            "unit": "byte",
            "included_units": data_included,
            "increment": _PER_STARTED_KB,
            "minimum_charge_minor": 10,
            "tiers": [_open_tier("0.0000001")],
        },
    }


DEMO_CATALOG_DATA: dict[str, Any] = {
    "taxes": {"DE": 1900, "FR": 2000, "AT": 2000, "US": 0, "US-CA": 725, "JP": 1000, "JO": 1600},
    "plans": [
        {
            "plan_id": "mobile-s",
            "version": 1,
            "effective_from": "2026-01-01T00:00:00+00:00",
            "currency": "EUR",
            "recurring_fee_minor": 999,
            "services": _eur_services(6000, 1 * _GIB, ("0.15", "0.09")),
        },
        {
            "plan_id": "mobile-s",
            "version": 2,
            "effective_from": "2026-07-01T00:00:00+00:00",
            "currency": "EUR",
            "recurring_fee_minor": 1099,
            "services": _eur_services(6000, 2 * _GIB, ("0.14", "0.08")),
        },
        {
            "plan_id": "mobile-l",
            "version": 1,
            "effective_from": "2026-01-01T00:00:00+00:00",
            "currency": "EUR",
            "recurring_fee_minor": 2999,
            "services": _eur_services(60000, 20 * _GIB, ("0.09", "0.05")),
        },
        {
            "plan_id": "mobile-jp",
            "version": 1,
            "effective_from": "2026-01-01T00:00:00+09:00",
            "currency": "JPY",
            "recurring_fee_minor": 2980,
            "services": {
                "voice": {
                    "unit": "second",
                    "included_units": 0,
                    "increment": _PER_STARTED_HALF_MINUTE,
                    "tiers": [_open_tier("0.5")],
                },
                "sms": {
                    "unit": "message",
                    "included_units": 0,
                    "increment": _PER_MESSAGE,
                    "tiers": [_open_tier("3.3")],
                },
                "data": {
                    "unit": "byte",
                    "included_units": 3 * _GIB,
                    "increment": _PER_STARTED_KB,
                    "tiers": [_open_tier("0.000001")],
                },
            },
        },
        {
            # Jordanian dinar: 3 decimals, prices in fils (1/1000 JOD) per unit.
            "plan_id": "mobile-jo",
            "version": 1,
            "effective_from": "2026-01-01T00:00:00+00:00",
            "currency": "JOD",
            "recurring_fee_minor": 7_500,
            "services": {
                "voice": {
                    "unit": "second",
                    "included_units": 3000,
                    "increment": _PER_SECOND_AFTER_FIRST_MINUTE,
                    "tiers": [{"up_to_units": 6000, "unit_price": "0.35"}, _open_tier("0.2")],
                },
                "sms": {
                    "unit": "message",
                    "included_units": 50,
                    "increment": _PER_MESSAGE,
                    "tiers": [_open_tier("12.5")],
                },
                "data": {
                    "unit": "byte",
                    "included_units": 5 * _GIB,
                    "increment": _PER_STARTED_KB,
                    "tiers": [_open_tier("0.000002")],
                },
            },
        },
    ],
}
