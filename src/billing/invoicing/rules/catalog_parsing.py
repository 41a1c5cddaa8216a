"""Turns the plain-dict catalog layout (documented in ``catalog.py``) into
validated price plan objects.

Every error names the path of the offending entry, e.g.
``plans[1].services.voice.tiers[0].unit_price``, because whoever reads it is
editing a YAML file, not this code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from billing.invoicing.rules.price_plans import (
    CatalogError,
    PricePlan,
    RatingIncrement,
    ServiceKind,
    ServiceRate,
    TaxTable,
    Tier,
)

Built = TypeVar("Built")


def _build(where: str, constructor: Callable[..., Built], **fields: Any) -> Built:
    """Construct a validated object, prefixing any rule violation with its path."""
    try:
        return constructor(**fields)
    except CatalogError as error:
        raise CatalogError(f"{where}: {error}") from None


def _field(raw: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in raw:
        raise CatalogError(f"{where}: missing {key!r}")
    return raw[key]


def _as_mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CatalogError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise CatalogError(f"{where}: expected a list, got {type(value).__name__}")
    return list(value)


def _as_int(value: Any, where: str) -> int:
    # bool is an int subclass; "true" is never a meaningful count or amount.
    if isinstance(value, bool) or not isinstance(value, int):
        raise CatalogError(f"{where}: expected an integer, got {value!r}")
    return value


def _as_price(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise CatalogError(f'{where}: unit prices must be decimal strings such as "0.25", got {value!r}')
    try:
        return Decimal(value)
    except InvalidOperation:
        raise CatalogError(f"{where}: not a decimal number: {value!r}") from None


def _as_datetime(value: Any, where: str) -> datetime:
    # YAML loaders already produce datetimes; JSON gives ISO 8601 strings.
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise CatalogError(f"{where}: not an ISO 8601 datetime: {value!r}") from None


def _parse_tier(raw: Any, where: str) -> Tier:
    tier = _as_mapping(raw, where)
    bound = _field(tier, "up_to_units", where)
    return _build(
        where,
        Tier,
        up_to_units=None if bound is None else _as_int(bound, f"{where}.up_to_units"),
        unit_price=_as_price(_field(tier, "unit_price", where), f"{where}.unit_price"),
    )


def _parse_increment(raw: Any, where: str) -> RatingIncrement:
    increment = _as_mapping(raw, where)
    return _build(
        where,
        RatingIncrement,
        first=_as_int(_field(increment, "first", where), f"{where}.first"),
        then=_as_int(_field(increment, "then", where), f"{where}.then"),
    )


def _parse_service_rate(raw: Any, where: str) -> ServiceRate:
    rate = _as_mapping(raw, where)
    tiers_where = f"{where}.tiers"
    tiers = _as_list(_field(rate, "tiers", where), tiers_where)
    return _build(
        where,
        ServiceRate,
        unit=str(_field(rate, "unit", where)),
        included_units=_as_int(_field(rate, "included_units", where), f"{where}.included_units"),
        tiers=tuple(_parse_tier(tier, f"{tiers_where}[{i}]") for i, tier in enumerate(tiers)),
        increment=_parse_increment(_field(rate, "increment", where), f"{where}.increment"),
        minimum_charge_minor=_as_int(rate.get("minimum_charge_minor", 0), f"{where}.minimum_charge_minor"),
    )


def _parse_service_kind(name: Any, where: str) -> ServiceKind:
    try:
        return ServiceKind(name)
    except ValueError:
        known = ", ".join(kind.value for kind in ServiceKind)
        raise CatalogError(f"{where}: unknown service {name!r}; known: {known}") from None


def _parse_services(raw: Any, where: str) -> dict[ServiceKind, ServiceRate]:
    services = _as_mapping(raw, where)
    return {
        _parse_service_kind(name, where): _parse_service_rate(rate, f"{where}.{name}")
        for name, rate in services.items()
    }


def _parse_plan(raw: Any, where: str) -> PricePlan:
    plan = _as_mapping(raw, where)
    return _build(
        where,
        PricePlan,
        plan_id=str(_field(plan, "plan_id", where)),
        version=_as_int(_field(plan, "version", where), f"{where}.version"),
        effective_from=_as_datetime(_field(plan, "effective_from", where), f"{where}.effective_from"),
        currency=str(_field(plan, "currency", where)),
        recurring_fee_minor=_as_int(_field(plan, "recurring_fee_minor", where), f"{where}.recurring_fee_minor"),
        services=_parse_services(_field(plan, "services", where), f"{where}.services"),
    )


def _as_tax_rate(value: Any, where: str) -> Decimal:
    """Basis points: an integer (1900 = 19 %) or an exact decimal string for a fractional rate
    ("1497.5" = 14.975 %); a float is refused, as for prices."""
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if not isinstance(value, str):
        raise CatalogError(
            f'{where}: tax rates are basis points, an integer or a decimal string such as "1497.5", got {value!r}'
        )
    try:
        return Decimal(value)
    except InvalidOperation:
        raise CatalogError(f"{where}: not a decimal number of basis points: {value!r}") from None


def _parse_taxes(raw: Any) -> TaxTable:
    taxes = _as_mapping(raw, "taxes")
    rates = {str(jurisdiction): _as_tax_rate(rate, f"taxes.{jurisdiction}") for jurisdiction, rate in taxes.items()}
    return _build("taxes", TaxTable, rates_bp=rates)


def parse_catalog_dict(data: Mapping[str, Any]) -> tuple[tuple[PricePlan, ...], TaxTable]:
    """Plans and tax table from the documented dict layout; raises CatalogError."""
    catalog = _as_mapping(data, "catalog")
    plans = _as_list(_field(catalog, "plans", "catalog"), "plans")
    parsed = tuple(_parse_plan(plan, f"plans[{index}]") for index, plan in enumerate(plans))
    return parsed, _parse_taxes(catalog.get("taxes", {}))
