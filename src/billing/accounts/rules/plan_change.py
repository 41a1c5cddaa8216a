"""An agent's plan change for a customer: when it takes effect, and when it is refused.

"now" takes effect at the moment of the request: the rating rules bill the whole day of a change on the new
plan and prorate both plans' fees and allowances by their days in the cycle (src/billing/invoicing/rules/
calculation.py). "next_cycle" takes effect at 00:00 UTC on the first day of the cycle after the one running now
(by the account's anchor day), so the running cycle is billed entirely on the plan it is on.

Refused, with one sentence and nothing written: an account that is not active, a plan the catalog does not
know, a plan priced in another currency, a plan with no version in force at the change, and a change that would
change nothing (the account is on that plan from then on already, with no other change to come). A change
replaces whatever was scheduled from its effective time on (src/billing/accounts/rules/plan_periods.py): a second
"next_cycle" change replaces a pending one, a "now" change cancels it.

What the change does to the monthly recurring charge (``recurring_charge_change``) is what the discount authority
bounds (src/billing/discounts/rules/plan_change.py).

Pure: the account's facts are read elsewhere and handed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from enum import StrEnum

from billing.accounts.rules.plan_periods import PlanHistory
from billing.invoicing.rules.catalog import Catalog, CatalogError
from billing.invoicing.rules.cycles import cycle_containing


class Effective(StrEnum):
    NEXT_CYCLE = "next_cycle"
    NOW = "now"


@dataclass(frozen=True)
class PlanChangeRefused:
    rule: str
    reason: str


def effective_at(effective: Effective, now: datetime, anchor_day: int) -> datetime:
    """When the change takes effect."""
    if effective is Effective.NOW:
        return now
    running = cycle_containing(anchor_day, now.astimezone(UTC).date())
    return datetime.combine(running.end, time.min, UTC)


def refusal(
    catalog: Catalog,
    *,
    status: str,
    currency: str,
    plan_id: str,
    plans: PlanHistory,
    effective: datetime,
    now: datetime,
) -> PlanChangeRefused | None:
    """Why the change to ``plan_id`` from ``effective`` is refused, or None. The plan must be in force ``now``,
    as the plan advisor offers it (a version, once in force, stays in force)."""
    if status != "active":
        return PlanChangeRefused("account_not_active", f"the account is {status}: its plan cannot change")
    if plan_id not in catalog.plan_ids:
        return PlanChangeRefused("unknown_plan", f"there is no plan {plan_id!r} in the catalog")
    plan_currency = catalog.versions(plan_id)[0].currency
    if plan_currency != currency:
        return PlanChangeRefused(
            "other_currency", f"plan {plan_id!r} is priced in {plan_currency}, the account is billed in {currency}"
        )
    try:
        catalog.plan_in_force(plan_id, now)
    except CatalogError:
        return PlanChangeRefused("plan_not_in_force", f"plan {plan_id!r} has no version in force on {now.date()}")
    if plans.changes_nothing(plan_id, effective):
        pending = plans.pending(now)
        if pending is not None and pending.plan_id == plan_id:
            return PlanChangeRefused("current_plan", f"the account already {pending.summary()}")
        return PlanChangeRefused("current_plan", f"the account is already on plan {plan_id!r}")
    return None


def recurring_charge_change(catalog: Catalog, from_plan_id: str, to_plan_id: str, at: datetime) -> int:
    """What the change does to the monthly recurring fee, in minor units: the new plan's fee minus the old one's,
    both in their versions in force at ``at`` (negative: the customer pays less each month)."""
    return _fee(catalog, to_plan_id, at) - _fee(catalog, from_plan_id, at)


def _fee(catalog: Catalog, plan_id: str, at: datetime) -> int:
    return catalog.plan_in_force(plan_id, at).recurring_fee_minor
