"""When an agent's plan change takes effect, and each refusal in one sentence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing.accounts.rules.plan_change import Effective, effective_at, refusal
from billing.invoicing.rules.catalog import demo_catalog

NOW = datetime(2026, 11, 12, 15, 30, tzinfo=UTC)
CATALOG = demo_catalog()


def test_now_is_the_moment_and_next_cycle_is_midnight_of_its_first_day() -> None:
    assert effective_at(Effective.NOW, NOW, 1) == NOW
    assert effective_at(Effective.NEXT_CYCLE, NOW, 1) == datetime(2026, 12, 1, tzinfo=UTC)
    # anchored on the 12th: the cycle running on 12 November started that day and ends on 12 December
    assert effective_at(Effective.NEXT_CYCLE, NOW, 12) == datetime(2026, 12, 12, tzinfo=UTC)
    assert effective_at(Effective.NEXT_CYCLE, NOW, 13) == datetime(2026, 11, 13, tzinfo=UTC)


def _refusal(**changes):
    values = {"status": "active", "currency": "EUR", "plan_id": "mobile-l", "latest_plan_id": "mobile-s"}
    values |= changes
    return refusal(CATALOG, now=NOW, **values)


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


def test_a_plan_whose_first_version_starts_later_is_not_in_force() -> None:
    catalog = demo_catalog()
    early = datetime(2025, 6, 1, tzinfo=UTC)
    refused = refusal(
        catalog, status="active", currency="EUR", plan_id="mobile-l", latest_plan_id="mobile-s", now=early
    )
    assert refused is not None and refused.rule == "plan_not_in_force"
