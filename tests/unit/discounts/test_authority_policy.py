"""Authority configuration: the default loads, and mistakes are named clearly."""

from collections.abc import Callable
from copy import deepcopy
from typing import Any

import pytest
from authority_test_factories import policy_dict

from billing.contracts.discounts import DiscountKind
from billing.discounts.rules.policy import (
    ROLES_BY_SENIORITY,
    AuthorityPolicy,
    GrantKind,
    PolicyConfigError,
    Role,
    default_policy,
)


def test_default_policy_covers_every_role_and_kind_with_growing_authority():
    policy = default_policy()
    for currency in ("EUR", "JPY"):
        per_grant = [policy.authority_for(currency, r).max_per_grant_minor for r in ROLES_BY_SENIORITY]
        assert per_grant == sorted(per_grant)
        assert not policy.authority_for(currency, Role.AGENT).can_approve_others
    assert policy.highest_authority("EUR")[0] is Role.SUPERVISOR
    assert policy.rule_for(GrantKind.PERCENT_NEXT_INVOICES).max_percent_bp == 2500


def test_grant_kinds_match_the_event_schema():
    assert {kind.value for kind in GrantKind} == {kind.value for kind in DiscountKind}


def _edited(edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = deepcopy(policy_dict())
    edit(data)
    return data


def _eur(data: dict[str, Any]) -> dict[str, Any]:
    return data["authority"]["EUR"]


def _percent(data: dict[str, Any]) -> dict[str, Any]:
    return data["eligibility"]["percent_next_invoices"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: _eur(d).pop("supervisor"), "authority.EUR: missing keys ['supervisor']"),
        (
            lambda d: _eur(d)["agent"].update(max_per_grnt_minor=5),
            "authority.EUR.agent: unknown keys ['max_per_grnt_minor']",
        ),
        (
            lambda d: _eur(d)["agent"].update(monthly_budget_minor=30.5),
            "authority.EUR.agent.monthly_budget_minor: expected an integer, got 30.5",
        ),
        (lambda d: _eur(d)["agent"].update(monthly_budget_minor=True), "expected an integer"),
        (lambda d: _eur(d)["agent"].update(max_per_grant_minor=-1), "must be >= 0, got -1"),
        (
            lambda d: _eur(d)["tier2"].update(max_per_grant_minor=500),
            "tier2.max_per_grant_minor (500) is below agent.max_per_grant_minor (1000)",
        ),
        (lambda d: _eur(d)["tier2"].update(can_approve_others="yes"), "expected true or false"),
        (lambda d: d["authority"].clear(), "at least one currency"),
        (lambda d: d["authority"].update(eur=d["authority"]["EUR"]), "ISO 4217 code, got 'eur'"),
        (
            lambda d: _percent(d).pop("max_percent_bp"),
            "eligibility.percent_next_invoices: missing keys ['max_percent_bp']",
        ),
        (
            lambda d: d["eligibility"]["credit_note"].update(max_invoice_count=2),
            "eligibility.credit_note: unknown keys ['max_invoice_count']",
        ),
        (lambda d: _percent(d).update(max_percent_bp=10_001), "must be 1..10000, got 10001"),
        (lambda d: _percent(d).update(max_invoice_count=0), "must be >= 1, got 0"),
        (lambda d: d["eligibility"].pop("credit_note"), "eligibility: missing keys ['credit_note']"),
        (lambda d: d.update(limits={}), "policy: unknown keys ['limits']"),
    ],
)
def test_configuration_mistakes_are_refused_with_the_offending_key(edit, message):
    with pytest.raises(PolicyConfigError) as raised:
        AuthorityPolicy.from_dict(_edited(edit))
    assert message in str(raised.value)


@pytest.mark.parametrize("code", ["ABC", "XAU", "XXX"])
def test_a_currency_must_be_in_the_one_currency_table(code):
    # Well formed is not enough: the currency table of billing.money says what can be billed (XAU, XXX have no
    # minor unit, ABC is no currency).
    with pytest.raises(PolicyConfigError, match=f"ISO 4217 code, got '{code}'"):
        AuthorityPolicy.from_dict(_edited(lambda d: d["authority"].update({code: d["authority"]["EUR"]})))


def test_a_non_mapping_section_is_refused():
    with pytest.raises(PolicyConfigError, match="authority: expected a mapping, got list"):
        AuthorityPolicy.from_dict({"authority": [], "eligibility": {}})
