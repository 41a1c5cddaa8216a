"""How far a person may lower an account's monthly recurring fee by a plan change."""

from __future__ import annotations

import copy

import pytest

from billing.discounts.rules.plan_change import plan_change_refusal, reduction_limit
from billing.discounts.rules.policy import AuthorityPolicy, PolicyConfigError, Role, default_policy
from billing.discounts.rules.policy_defaults import DEFAULT_POLICY_DATA

POLICY = default_policy()


def test_an_upgrade_or_a_reduction_within_the_limit_goes_through() -> None:
    assert plan_change_refusal(POLICY, "EUR", Role.AGENT, -1900) is None  # an upgrade: 19.00 more a month
    assert plan_change_refusal(POLICY, "EUR", Role.AGENT, 0) is None
    assert plan_change_refusal(POLICY, "EUR", Role.AGENT, 1500) is None  # exactly the agent's limit


def test_above_the_limit_the_refusal_names_it_and_who_may_make_the_change() -> None:
    # mobile-l (2,999) to mobile-s (1,099): 1,900 a month less, above the agent's 1,500, within tier 2's 5,000.
    refused = plan_change_refusal(POLICY, "EUR", Role.AGENT, 1900)
    assert refused is not None and refused.rule == "max_plan_change_reduction_minor"
    assert refused.reason == (
        "max_plan_change_reduction_minor: the change lowers the monthly recurring fee by 1900 EUR minor units,"
        " above the agent limit of 1500 (over by 400); a tier2 or supervisor must make it"
    )
    assert plan_change_refusal(POLICY, "EUR", Role.TIER2, 1900) is None
    beyond = plan_change_refusal(POLICY, "EUR", Role.SUPERVISOR, 20_001)
    assert beyond is not None and beyond.reason.endswith("no role's authority covers it")


def test_a_currency_without_authority_allows_no_reduction() -> None:
    assert reduction_limit(POLICY, "JOD", Role.SUPERVISOR) == 0
    assert plan_change_refusal(POLICY, "JOD", Role.SUPERVISOR, 1) is not None
    assert plan_change_refusal(POLICY, "JOD", Role.AGENT, 0) is None


def test_a_configuration_without_the_limit_gives_each_role_its_limit_per_grant() -> None:
    data = copy.deepcopy(DEFAULT_POLICY_DATA)
    for roles in data["authority"].values():
        for limits in roles.values():
            del limits["max_plan_change_reduction_minor"]
    policy = AuthorityPolicy.from_dict(data)
    assert reduction_limit(policy, "EUR", Role.AGENT) == 2500
    assert reduction_limit(policy, "EUR", Role.SUPERVISOR) == 50_000


def test_the_limit_must_not_shrink_with_seniority() -> None:
    data = copy.deepcopy(DEFAULT_POLICY_DATA)
    data["authority"]["EUR"]["tier2"]["max_plan_change_reduction_minor"] = 100
    with pytest.raises(PolicyConfigError, match=r"tier2\.max_plan_change_reduction_minor"):
        AuthorityPolicy.from_dict(data)
