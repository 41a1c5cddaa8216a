import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from billing_test_factories import TALK_S, build_test_catalog, open_tier, plan_dict, service

from billing.invoicing.rules.catalog import (
    Catalog,
    CatalogError,
    RatingIncrement,
    ServiceKind,
    Tier,
    demo_catalog,
)


def _catalog_with(plan: dict) -> Catalog:
    return Catalog.from_dict({"plans": [plan]})


def test_demo_catalog_has_required_plans():
    catalog = demo_catalog()
    assert set(catalog.plan_ids) >= {"mobile-s", "mobile-l", "mobile-jp"}
    assert [plan.version for plan in catalog.versions("mobile-s")] == [1, 2]
    assert catalog.versions("mobile-s")[0].currency == "EUR"
    assert catalog.versions("mobile-jp")[0].currency == "JPY"


def test_plan_in_force_picks_latest_started_version():
    catalog = demo_catalog()
    june = datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC)
    july = datetime(2026, 7, 1, tzinfo=UTC)
    assert catalog.plan_in_force("mobile-s", june).version == 1
    assert catalog.plan_in_force("mobile-s", july).version == 2
    assert catalog.plan_in_force("mobile-s", datetime(2030, 1, 1, tzinfo=UTC)).version == 2


def test_plan_in_force_errors_are_clear():
    catalog = demo_catalog()
    with pytest.raises(CatalogError, match="no version of plan 'mobile-s' in force"):
        catalog.plan_in_force("mobile-s", datetime(2025, 12, 31, tzinfo=UTC))
    with pytest.raises(CatalogError, match="unknown plan 'nope'"):
        catalog.plan_in_force("nope", datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(CatalogError, match="timezone-aware"):
        catalog.plan_in_force("mobile-s", datetime(2026, 8, 1))  # noqa: DTZ001 - the naive time under test


def test_effective_from_is_normalised_to_utc():
    # mobile-jp v1 starts at midnight Tokyo time, i.e. 15:00 UTC the day before.
    plan = demo_catalog().versions("mobile-jp")[0]
    assert plan.effective_from == datetime(2025, 12, 31, 15, tzinfo=UTC)


def test_parsed_values_are_exact():
    rate = build_test_catalog().plan_version("talk-s", 1).rate_for(ServiceKind.VOICE)
    assert rate.tiers == (Tier(600, Decimal("0.25")), Tier(None, Decimal("0.15")))
    assert rate.increment == RatingIncrement(60, 1)


def test_tax_table_falls_back_to_country():
    taxes = demo_catalog().taxes
    assert taxes.rate_bp("DE") == 1900
    assert taxes.rate_bp("US-CA") == 725
    assert taxes.rate_bp("US-NY") == 0  # falls back to "US"
    with pytest.raises(CatalogError, match="'BR-SP'"):
        taxes.rate_bp("BR-SP")


def _broken(path_setter) -> dict:
    plan = copy.deepcopy(TALK_S)
    path_setter(plan)
    return plan


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda p: p["services"]["voice"].update(tiers=[{"up_to_units": 600, "unit_price": "1"}]),
            "last tier must be unbounded",
        ),
        (
            lambda p: p["services"]["voice"].update(
                tiers=[{"up_to_units": 600, "unit_price": "1"}, {"up_to_units": 300, "unit_price": "1"}, open_tier("1")]
            ),
            "ascending",
        ),
        (lambda p: p["services"]["voice"].update(increment={"first": 0, "then": 1}), "increment must be at least"),
        (lambda p: p.update(currency="XXX"), "unknown currency 'XXX'"),
        (
            lambda p: p["services"]["voice"].update(tiers=[open_tier(0.25)]),
            r"plans\[0\].services.voice.tiers\[0\].unit_price: unit prices must be decimal strings",
        ),
        (lambda p: p["services"]["voice"].update(tiers=[open_tier("-1")]), "negative"),
        (lambda p: p["services"].update(fax={}), "unknown service 'fax'"),
        (lambda p: p.pop("currency"), r"plans\[0\]: missing 'currency'"),
        (lambda p: p.update(effective_from="2026-01-01T00:00:00"), "tz-aware"),
    ],
)
def test_invalid_catalogs_are_rejected_with_clear_message(mutate, message):
    with pytest.raises(CatalogError, match=message):
        _catalog_with(_broken(mutate))


def test_versions_must_increase_with_effective_date():
    older = plan_dict("p", "EUR", 100, {}, version=2, effective_from="2026-01-01T00:00:00Z")
    newer = plan_dict("p", "EUR", 100, {}, version=1, effective_from="2026-02-01T00:00:00Z")
    with pytest.raises(CatalogError, match="versions must be unique and increase"):
        Catalog.from_dict({"plans": [older, newer]})


def test_unknown_service_on_plan():
    plan = _catalog_with(plan_dict("p", "EUR", 100, {"sms": service(0, (1, 1), [open_tier("1")])})).plan_version("p", 1)
    with pytest.raises(CatalogError, match="does not offer voice"):
        plan.rate_for(ServiceKind.VOICE)
