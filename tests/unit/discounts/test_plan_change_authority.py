"""How far a person may lower an account's monthly recurring fee by a plan change."""

from __future__ import annotations

import copy

import pytest

from billing.discounts.rules.grants import AgentProfile, Refused
from billing.discounts.rules.plan_change import (
    NeedsApproval,
    approval_refusal,
    decline_refusal,
    plan_change_decision,
    plan_change_refusal,
    reduction_limit,
)
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


def test_above_the_limit_a_change_some_approver_covers_goes_to_a_second_person() -> None:
    assert plan_change_decision(POLICY, "EUR", Role.AGENT, 1500) is None
    sent = plan_change_decision(POLICY, "EUR", Role.AGENT, 1900)
    assert isinstance(sent, NeedsApproval)
    assert sent.excess.describe() == "max_plan_change_reduction_minor: would reach 1900, limit 1500 (over by 400)"
    assert sent.reason == (
        "max_plan_change_reduction_minor: the change lowers the monthly recurring fee by 1900 EUR minor units,"
        " above the agent limit of 1500 (over by 400); sent to a supervisor for approval (a tier2 or supervisor"
        " may approve it)"
    )
    # 60.00 less: only a supervisor's 20,000 covers it.
    assert "(a supervisor may approve it)" in _reason(plan_change_decision(POLICY, "EUR", Role.TIER2, 6000))
    # Beyond every role's limit: no approval could be given, so it is refused outright.
    beyond = plan_change_decision(POLICY, "EUR", Role.AGENT, 20_001)
    assert isinstance(beyond, Refused) and beyond.reason.endswith("no role's authority covers it")
    assert isinstance(plan_change_decision(POLICY, "JOD", Role.AGENT, 1), Refused)


def test_the_approver_is_another_person_who_may_approve_and_whose_limit_covers_the_change() -> None:
    sam, tia, ana = (
        AgentProfile("sam", Role.SUPERVISOR),
        AgentProfile("tia", Role.TIER2),
        AgentProfile("ana", Role.AGENT),
    )
    assert approval_refusal(POLICY, "EUR", "ana", sam, 1900) is None
    assert approval_refusal(POLICY, "EUR", "ana", tia, 1900) is None
    own = approval_refusal(POLICY, "EUR", "sam", sam, 1900)
    assert own is not None and own.rule == "separation_of_duties"
    agent = approval_refusal(POLICY, "EUR", "bo", ana, 100)
    assert agent is not None and agent.rule == "can_approve_others"
    over = approval_refusal(POLICY, "EUR", "ana", tia, 6000)
    assert over is not None and over.reason == (
        "max_plan_change_reduction_minor: the change lowers the monthly recurring fee by 6000 EUR minor units,"
        " above the tier2 limit of 5000 (over by 1000); approver tia lacks the authority to approve it"
    )
    assert approval_refusal(POLICY, "EUR", "ana", sam, -500) is None  # no longer a reduction at all
    # Declining needs no limit, only a second person who may approve others' requests.
    assert decline_refusal(POLICY, "EUR", "ana", tia) is None
    declined_own = decline_refusal(POLICY, "EUR", "tia", tia)
    assert declined_own is not None and declined_own.rule == "separation_of_duties"


def _reason(decision: object) -> str:
    assert isinstance(decision, NeedsApproval | Refused)
    return decision.reason
