"""When an agent's plan change takes effect, each refusal in one sentence, and what it does to the monthly fee."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing.accounts.rules.plan_change import Effective, effective_at, recurring_charge_change, refusal
from billing.accounts.rules.plan_periods import PlanHistory, PlanPeriod
from billing.invoicing.rules.catalog import demo_catalog

NOW = datetime(2026, 11, 12, 15, 30, tzinfo=UTC)
NEXT_CYCLE = datetime(2026, 12, 1, tzinfo=UTC)
CATALOG = demo_catalog()
OPENED = PlanPeriod("mobile-s", datetime(2026, 1, 5, tzinfo=UTC), "open")
ON_S = PlanHistory((OPENED,), "mobile-s")
# On mobile-s, moving to mobile-l from the next cycle.
MOVING = PlanHistory((OPENED, PlanPeriod("mobile-l", NEXT_CYCLE, "chg")), "mobile-l")


def test_now_is_the_moment_and_next_cycle_is_midnight_of_its_first_day() -> None:
    assert effective_at(Effective.NOW, NOW, 1) == NOW
    assert effective_at(Effective.NEXT_CYCLE, NOW, 1) == NEXT_CYCLE
    # anchored on the 12th: the cycle running on 12 November started that day and ends on 12 December
    assert effective_at(Effective.NEXT_CYCLE, NOW, 12) == datetime(2026, 12, 12, tzinfo=UTC)
    assert effective_at(Effective.NEXT_CYCLE, NOW, 13) == datetime(2026, 11, 13, tzinfo=UTC)


def _refusal(plans: PlanHistory = ON_S, effective: datetime = NEXT_CYCLE, **changes):
    values = {"status": "active", "currency": "EUR", "plan_id": "mobile-l"} | changes
    return refusal(CATALOG, plans=plans, effective=effective, now=NOW, **values)


def test_a_plan_in_the_currency_in_force_and_not_the_current_one_is_accepted() -> None:
    assert _refusal() is None


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"plan_id": "mobile-xl"}, "unknown_plan"),
        ({"plan_id": "mobile-jp"}, "other_currency"),
        ({"plan_id": "mobile-s"}, "current_plan"),
        ({"status": "closed"}, "account_not_active"),
    ],
)
def test_refusals_name_their_rule_in_one_sentence(changes, rule) -> None:
    refused = _refusal(**changes)
    assert refused is not None and refused.rule == rule
    assert refused.reason.count(".") <= 1 and refused.reason


def test_the_plan_already_scheduled_is_refused_and_says_when() -> None:
    refused = _refusal(MOVING, plan_id="mobile-l")
    assert refused is not None and refused.rule == "current_plan"
    assert refused.reason == "the account already changes to mobile-l on 2026-12-01"


def test_a_change_that_replaces_or_cancels_a_scheduled_one_is_accepted() -> None:
    assert _refusal(MOVING, plan_id="mobile-l", effective=NOW) is None  # sooner: now instead of next cycle
    assert _refusal(MOVING, plan_id="mobile-s", effective=NOW) is None  # stay: cancels the pending change
    assert _refusal(MOVING, plan_id="mobile-s") is None  # from the next cycle too


def test_a_plan_whose_first_version_starts_later_is_not_in_force() -> None:
    early = datetime(2025, 6, 1, tzinfo=UTC)
    refused = refusal(
        CATALOG, status="active", currency="EUR", plan_id="mobile-l", plans=ON_S, effective=early, now=early
    )
    assert refused is not None and refused.rule == "plan_not_in_force"


def test_the_recurring_charge_change_compares_the_versions_in_force_then() -> None:
    # mobile-s v2 (from 1 July 2026) costs 1,099 a month, mobile-l v1 2,999: 1,900 more, or 1,900 less.
    assert recurring_charge_change(CATALOG, "mobile-s", "mobile-l", NEXT_CYCLE) == 1900
    assert recurring_charge_change(CATALOG, "mobile-l", "mobile-s", NEXT_CYCLE) == -1900
    # Before July mobile-s v1 cost 999: 2,999 - 999 = 2,000 less.
    assert recurring_charge_change(CATALOG, "mobile-l", "mobile-s", datetime(2026, 3, 1, tzinfo=UTC)) == -2000
