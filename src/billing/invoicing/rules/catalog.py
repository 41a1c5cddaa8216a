"""Versioned price plans and tax rates, built from plain configuration dicts.

A plan is never edited in place: a price change is a new version with a later
``effective_from``, so any past event can be re-rated with the prices that
were in force when it happened.

Dict layout accepted by ``Catalog.from_dict`` (e.g. loaded from YAML/JSON)::

    {
      "taxes": {"DE": 1900, "US-CA": 725, "CA-QC": "1497.5"},  # basis points: int or
                                                       # exact decimal string
      "plans": [
        {
          "plan_id": "mobile-s",
          "version": 1,                                  # int >= 1
          "effective_from": "2026-01-01T00:00:00Z",      # tz-aware ISO 8601
          "currency": "EUR",                             # see CURRENCY_EXPONENTS
          "recurring_fee_minor": 999,                    # minor units per cycle
          "services": {
            "voice": {                                   # a ServiceKind value
              "unit": "second",
              "included_units": 6000,
              "increment": {"first": 60, "then": 1},
              "minimum_charge_minor": 0,                 # optional, default 0
              "tiers": [                                 # ascending, last open
                {"up_to_units": 3000, "unit_price": "0.25"},
                {"up_to_units": null, "unit_price": "0.15"}
              ]
            }
          }
        }
      ]
    }

Unit prices must be decimal strings (or ints) in minor units per unit; floats
are refused because they cannot represent most decimal prices exactly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from billing.invoicing.rules.catalog_demo_data import DEMO_CATALOG_DATA
from billing.invoicing.rules.catalog_parsing import parse_catalog_dict
from billing.invoicing.rules.price_plans import (
    CatalogError,
    PricePlan,
    RatingIncrement,
    ServiceKind,
    ServiceRate,
    TaxTable,
    Tier,
)

__all__ = [
    "Catalog",
    "CatalogError",
    "PricePlan",
    "RatingIncrement",
    "ServiceKind",
    "ServiceRate",
    "TaxTable",
    "Tier",
    "demo_catalog",
]


@dataclass(frozen=True)
class Catalog:
    plans: tuple[PricePlan, ...]
    taxes: TaxTable = TaxTable({})  # noqa: RUF009 - frozen, its rates a read-only mapping: one shared default is safe
    _versions_by_plan: Mapping[str, tuple[PricePlan, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        grouped: dict[str, list[PricePlan]] = defaultdict(list)
        for plan in self.plans:
            grouped[plan.plan_id].append(plan)
        versions = {plan_id: _ordered_versions(plan_id, plans) for plan_id, plans in grouped.items()}
        object.__setattr__(self, "plans", tuple(self.plans))
        object.__setattr__(self, "_versions_by_plan", MappingProxyType(versions))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Catalog:
        plans, taxes = parse_catalog_dict(data)
        return cls(plans=plans, taxes=taxes)

    @property
    def plan_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._versions_by_plan))

    @property
    def currencies(self) -> frozenset[str]:
        """The currencies some plan of the catalog is priced in."""
        return frozenset(plan.currency for plan in self.plans)

    def unbillable_reason(self, plan_id: str, currency: str, jurisdiction: str | None = None) -> str | None:
        """Why an account on ``plan_id`` in ``currency`` (taxed in ``jurisdiction``) could never be invoiced,
        or None: refused when it is opened or changes plan, rather than discovered when its cycle closes."""
        if currency not in self.currencies:
            priced = ", ".join(sorted(self.currencies))
            return f"no plan of the catalog is priced in {currency} (the catalog prices {priced})"
        if plan_id not in self._versions_by_plan:
            return f"plan {plan_id!r} is not in the catalog"
        plan_currency = self._versions_by_plan[plan_id][0].currency
        if plan_currency != currency:
            return f"plan {plan_id!r} is priced in {plan_currency}, not in the account's currency {currency}"
        if jurisdiction is not None and not self.taxes.knows(jurisdiction):
            return f"the catalog has no tax rate for jurisdiction {jurisdiction!r}"
        return None

    def versions(self, plan_id: str) -> tuple[PricePlan, ...]:
        try:
            return self._versions_by_plan[plan_id]
        except KeyError:
            raise CatalogError(f"unknown plan {plan_id!r}") from None

    def plan_version(self, plan_id: str, version: int) -> PricePlan:
        for plan in self.versions(plan_id):
            if plan.version == version:
                return plan
        raise CatalogError(f"plan {plan_id!r} has no version {version}")

    def plan_in_force(self, plan_id: str, at: datetime) -> PricePlan:
        """Latest version of ``plan_id`` whose effective_from is <= ``at``."""
        if at.utcoffset() is None:
            raise CatalogError(f"'at' must be timezone-aware, got {at.isoformat()}")
        in_force = [plan for plan in self.versions(plan_id) if plan.effective_from <= at]
        if not in_force:
            first = self.versions(plan_id)[0].effective_from.isoformat()
            raise CatalogError(
                f"no version of plan {plan_id!r} in force at {at.isoformat()}; the first version starts {first}"
            )
        return in_force[-1]


def _ordered_versions(plan_id: str, plans: list[PricePlan]) -> tuple[PricePlan, ...]:
    """Versions sorted by effective_from; the order must agree with the
    version numbers so "v2" always means "the later prices"."""
    ordered = sorted(plans, key=lambda plan: plan.effective_from)
    version_numbers = [plan.version for plan in ordered]
    if version_numbers != sorted(set(version_numbers)):
        raise CatalogError(
            f"plan {plan_id!r}: versions must be unique and increase with "
            f"effective_from, got {version_numbers} in date order"
        )
    starts = [plan.effective_from for plan in ordered]
    if len(set(starts)) != len(starts):
        raise CatalogError(f"plan {plan_id!r}: two versions share an effective_from")
    if len({plan.currency for plan in ordered}) > 1:
        raise CatalogError(f"plan {plan_id!r}: all versions must use one currency")
    return tuple(ordered)


def demo_catalog() -> Catalog:
    """A realistic catalog for demos and tests (two EUR plans, one JPY plan, one JOD plan)."""
    return Catalog.from_dict(DEMO_CATALOG_DATA)
