"""Price plan building blocks: services, tiers, increments, plans, tax rates.

These are frozen dataclasses that validate themselves on construction, so a
plan built in code is held to the same rules as one parsed from config.
``catalog.py`` re-exports them; import from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from billing.money import UnknownCurrencyError, currency_exponent


class CatalogError(ValueError):
    """Invalid price configuration or a lookup that the catalog cannot answer."""


class ServiceKind(StrEnum):
    VOICE = "voice"
    SMS = "sms"
    DATA = "data"


@dataclass(frozen=True)
class RatingIncrement:
    """Charging step: the first ``first`` units are billed as a block, then
    every started ``then`` units (voice 60/1 bills a 5 s call as 60 s)."""

    first: int
    then: int

    def __post_init__(self) -> None:
        if self.first < 1 or self.then < 1:
            raise CatalogError(f"increment must be at least 1/1, got {self.first}/{self.then}")


@dataclass(frozen=True)
class Tier:
    """A graduated tier: prices only the chargeable units up to ``up_to_units``
    (counted cumulatively after the allowance); ``None`` means unbounded."""

    up_to_units: int | None
    unit_price: Decimal

    def __post_init__(self) -> None:
        # A float price would already have lost the decimal value it meant.
        if not isinstance(self.unit_price, Decimal) or not self.unit_price.is_finite():
            raise CatalogError(f"unit_price must be a finite Decimal, got {self.unit_price!r}")
        if self.unit_price < 0:
            raise CatalogError(f"unit_price must not be negative, got {self.unit_price}")


@dataclass(frozen=True)
class ServiceRate:
    unit: str
    included_units: int
    tiers: tuple[Tier, ...]
    increment: RatingIncrement
    minimum_charge_minor: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiers", tuple(self.tiers))
        if self.included_units < 0:
            raise CatalogError(f"included_units must be >= 0, got {self.included_units}")
        if self.minimum_charge_minor < 0:
            raise CatalogError(f"minimum_charge_minor must be >= 0, got {self.minimum_charge_minor}")
        _check_tiers(self.tiers)


def _check_tiers(tiers: tuple[Tier, ...]) -> None:
    if not tiers:
        raise CatalogError("a service needs at least one tier")
    if tiers[-1].up_to_units is not None:
        raise CatalogError("the last tier must be unbounded (up_to_units: null)")
    bounds = [tier.up_to_units for tier in tiers[:-1] if tier.up_to_units is not None]
    if len(bounds) != len(tiers) - 1:
        raise CatalogError("only the last tier may be unbounded")
    if any(bound <= 0 for bound in bounds) or bounds != sorted(set(bounds)):
        raise CatalogError(f"tier bounds must be positive and ascending, got {bounds}")


@dataclass(frozen=True)
class PricePlan:
    plan_id: str
    version: int
    effective_from: datetime
    currency: str
    recurring_fee_minor: int
    services: Mapping[ServiceKind, ServiceRate]

    def __post_init__(self) -> None:
        if self.version < 1:
            raise CatalogError(f"{self.plan_id}: version must be >= 1, got {self.version}")
        if self.recurring_fee_minor < 0:
            raise CatalogError(f"{self.plan_id}: recurring_fee_minor must be >= 0")
        try:
            currency_exponent(self.currency)
        except UnknownCurrencyError as error:
            raise CatalogError(f"{self.plan_id} v{self.version}: {error}") from None
        if self.effective_from.utcoffset() is None:
            raise CatalogError(f"{self.plan_id} v{self.version}: effective_from must be tz-aware")
        object.__setattr__(self, "effective_from", self.effective_from.astimezone(UTC))
        object.__setattr__(self, "services", MappingProxyType(dict(self.services)))

    @property
    def label(self) -> str:
        return f"{self.plan_id}:v{self.version}"

    def rate_for(self, service: ServiceKind) -> ServiceRate:
        try:
            return self.services[service]
        except KeyError:
            raise CatalogError(f"plan {self.label} does not offer {service}") from None


@dataclass(frozen=True)
class TaxTable:
    """Tax rates in basis points by jurisdiction; "US-CA" falls back to "US".

    A rate is an exact ``Decimal`` of basis points, so a fractional one such as Quebec's combined 14.975 %
    (1497.5 bp) is held as it is written; the tax line rounds once (``money.percent_of``).
    """

    rates_bp: Mapping[str, Decimal]

    def __post_init__(self) -> None:
        rates = {jurisdiction: _exact_rate(jurisdiction, rate) for jurisdiction, rate in self.rates_bp.items()}
        object.__setattr__(self, "rates_bp", MappingProxyType(rates))

    def knows(self, jurisdiction: str) -> bool:
        return self._rate_or_none(jurisdiction) is not None

    def rate_bp(self, jurisdiction: str) -> Decimal:
        rate = self._rate_or_none(jurisdiction)
        if rate is None:
            raise CatalogError(f"no tax rate for jurisdiction {jurisdiction!r}")
        return rate

    def _rate_or_none(self, jurisdiction: str) -> Decimal | None:
        candidate = jurisdiction
        while candidate:
            if candidate in self.rates_bp:
                return self.rates_bp[candidate]
            candidate = candidate.rpartition("-")[0]
        return None


def _exact_rate(jurisdiction: str, rate: object) -> Decimal:
    # An int is taken as it is; a float is refused because 14.975 as a float is not 14.975.
    if isinstance(rate, bool) or not isinstance(rate, (int, Decimal)):
        raise CatalogError(f"tax rate of {jurisdiction!r} must be an int or a Decimal of basis points, got {rate!r}")
    exact = Decimal(rate)
    if not exact.is_finite() or exact < 0:
        raise CatalogError(f"tax rates must not be negative, got {rate} for {jurisdiction!r}")
    return exact
