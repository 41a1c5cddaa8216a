"""Discount authority policy, built from a plain configuration dict.

Limits and eligibility are configuration, not code, so finance can change a
budget without a release. Layout accepted by ``AuthorityPolicy.from_dict``::

    {
      "authority": {                 # per currency; every role is required
        "EUR": {
          "agent": {
            "max_per_grant_minor": 2500,         # one grant's money value
            "monthly_budget_minor": 50000,       # per person per calendar month
            "max_per_customer_12m_minor": 5000,  # one account, trailing 365 days
            "can_approve_others": false,         # may act as the second person
            "max_plan_change_reduction_minor": 1500  # optional: the most one plan change may lower
          },                                         # the monthly recurring fee (default: max_per_grant_minor)
          "tier2": {...}, "supervisor": {...}
        }
      },
      "eligibility": {               # every discount kind is required
        "percent_next_invoices": {
          "min_tenure_days": 180,
          "good_standing_required": true,        # no overdue invoice
          "no_similar_discount_within_days": 90, # 0 switches the rule off
          "max_percent_bp": 2500,                # percent kind only
          "max_invoice_count": 6                 # percent kind only
        },
        "fixed_next_invoice": {...}, "credit_note": {...}
      },
      "disputes": {                  # optional; per currency
        "EUR": {
          "max_credit_by_opener_minor": 1000     # the most whoever opened a dispute
        }                                        # may credit on it (resolve or approve)
      }
    }

A dispute credit is a ``credit_note`` grant and goes through the same authority as any discount. Above
``max_credit_by_opener_minor`` the person who opened the dispute may neither resolve it with that credit nor
approve it, so one person cannot both raise a claim and pay it out; a currency missing from ``disputes`` has 0
(the opener never credits their own dispute).

A plan change that lowers the account's monthly recurring fee by more than the role's
``max_plan_change_reduction_minor`` is refused to that person (src/billing/discounts/rules/plan_change.py); a
configuration without the key gives each role its ``max_per_grant_minor`` there.

Unknown keys are refused (a misspelt limit must not silently fall back to
nothing), integers must be real ints (not bools or floats), and authority
must not shrink with seniority, because an approval task escalates upwards.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from billing.discounts.rules.policy_defaults import DEFAULT_POLICY_DATA
from billing.money import CURRENCY_EXPONENTS


class PolicyConfigError(ValueError):
    """The authority configuration is incomplete or inconsistent."""


class Role(StrEnum):
    AGENT = "agent"
    TIER2 = "tier2"
    SUPERVISOR = "supervisor"


# Escalation order: an approval task goes to someone further along this tuple.
ROLES_BY_SENIORITY: tuple[Role, ...] = (Role.AGENT, Role.TIER2, Role.SUPERVISOR)


class GrantKind(StrEnum):
    """Same values as ``billing.contracts.discounts.DiscountKind`` (kept stdlib-only here)."""

    PERCENT_NEXT_INVOICES = "percent_next_invoices"
    FIXED_NEXT_INVOICE = "fixed_next_invoice"
    CREDIT_NOTE = "credit_note"


@dataclass(frozen=True)
class RoleAuthority:
    max_per_grant_minor: int
    monthly_budget_minor: int
    max_per_customer_12m_minor: int
    can_approve_others: bool
    max_plan_change_reduction_minor: int  # the most one plan change may lower the monthly recurring fee


@dataclass(frozen=True)
class EligibilityRule:
    min_tenure_days: int
    good_standing_required: bool
    no_similar_discount_within_days: int
    max_percent_bp: int | None = None
    max_invoice_count: int | None = None


_MONEY_LIMITS = ("max_per_grant_minor", "monthly_budget_minor", "max_per_customer_12m_minor")
# Limits a configuration may leave out, each with the limit it then takes (configurations written before it existed
# stay valid).
_OPTIONAL_LIMITS: Mapping[str, str] = {"max_plan_change_reduction_minor": "max_per_grant_minor"}
_PERCENT_ONLY_KEYS = ("max_percent_bp", "max_invoice_count")
_KIND_SPECIFIC_KEYS: Mapping[GrantKind, tuple[str, ...]] = {
    GrantKind.PERCENT_NEXT_INVOICES: _PERCENT_ONLY_KEYS,
    GrantKind.FIXED_NEXT_INVOICE: (),
    GrantKind.CREDIT_NOTE: (),
}
_UPPER_BOUNDS: Mapping[str, int] = {"max_percent_bp": 10_000}
_LOWER_BOUNDS: Mapping[str, int] = {"max_percent_bp": 1, "max_invoice_count": 1}


_OPENER_LIMIT = "max_credit_by_opener_minor"


@dataclass(frozen=True)
class AuthorityPolicy:
    authority: Mapping[str, Mapping[Role, RoleAuthority]]
    eligibility: Mapping[GrantKind, EligibilityRule]
    opener_credit_limits: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuthorityPolicy:
        top = _mapping(data, "policy")
        _check_keys(top, {"authority", "eligibility"}, "policy", optional=frozenset({"disputes"}))
        currencies = _mapping(top["authority"], "authority")
        if not currencies:
            raise PolicyConfigError("authority: at least one currency is required")
        authority = {_currency(code): _parse_roles(roles, f"authority.{code}") for code, roles in currencies.items()}
        rules = _mapping(top["eligibility"], "eligibility")
        _check_keys(rules, {kind.value for kind in GrantKind}, "eligibility")
        eligibility = {kind: _parse_rule(kind, rules[kind.value], f"eligibility.{kind.value}") for kind in GrantKind}
        disputes = _parse_disputes(top.get("disputes", {}))
        return cls(MappingProxyType(authority), MappingProxyType(eligibility), MappingProxyType(disputes))

    def supports(self, currency: str) -> bool:
        return currency in self.authority

    def authority_for(self, currency: str, role: Role) -> RoleAuthority:
        return self.authority[currency][role]

    def highest_authority(self, currency: str) -> tuple[Role, RoleAuthority]:
        top_role = ROLES_BY_SENIORITY[-1]
        return top_role, self.authority[currency][top_role]

    def rule_for(self, kind: GrantKind) -> EligibilityRule:
        return self.eligibility[kind]

    def max_credit_by_opener(self, currency: str) -> int:
        return self.opener_credit_limits.get(currency, 0)


def default_policy() -> AuthorityPolicy:
    """A realistic starting policy (EUR and JPY); see ``policy_defaults``."""
    return AuthorityPolicy.from_dict(DEFAULT_POLICY_DATA)


def _parse_roles(data: Any, where: str) -> Mapping[Role, RoleAuthority]:
    roles = _mapping(data, where)
    _check_keys(roles, {role.value for role in Role}, where)
    parsed = {role: _parse_role(roles[role.value], f"{where}.{role.value}") for role in Role}
    _check_seniority(parsed, where)
    return MappingProxyType(parsed)


def _parse_role(data: Any, where: str) -> RoleAuthority:
    limits = _mapping(data, where)
    required = {field.name for field in fields(RoleAuthority)} - set(_OPTIONAL_LIMITS)
    _check_keys(limits, required, where, optional=frozenset(_OPTIONAL_LIMITS))
    money = {name: _int(limits[name], f"{where}.{name}") for name in _MONEY_LIMITS}
    for name, otherwise in _OPTIONAL_LIMITS.items():
        money[name] = _int(limits[name], f"{where}.{name}") if name in limits else money[otherwise]
    approve = _bool(limits["can_approve_others"], f"{where}.can_approve_others")
    return RoleAuthority(**money, can_approve_others=approve)


def _check_seniority(roles: Mapping[Role, RoleAuthority], where: str) -> None:
    for junior, senior in itertools.pairwise(ROLES_BY_SENIORITY):
        for name in (*_MONEY_LIMITS, *_OPTIONAL_LIMITS):
            junior_limit = getattr(roles[junior], name)
            senior_limit = getattr(roles[senior], name)
            if senior_limit < junior_limit:
                raise PolicyConfigError(
                    f"{where}: {senior}.{name} ({senior_limit}) is below "
                    f"{junior}.{name} ({junior_limit}); authority must not shrink "
                    "with seniority"
                )


def _parse_disputes(data: Any) -> dict[str, int]:
    limits: dict[str, int] = {}
    for code, block in _mapping(data, "disputes").items():
        where = f"disputes.{code}"
        _check_keys(_mapping(block, where), {_OPENER_LIMIT}, where)
        limits[_currency(code, "disputes")] = _int(block[_OPENER_LIMIT], f"{where}.{_OPENER_LIMIT}")
    return limits


def _parse_rule(kind: GrantKind, data: Any, where: str) -> EligibilityRule:
    rule = _mapping(data, where)
    common = {"min_tenure_days", "good_standing_required", "no_similar_discount_within_days"}
    _check_keys(rule, common | set(_KIND_SPECIFIC_KEYS[kind]), where)
    int_keys = ("min_tenure_days", "no_similar_discount_within_days", *_KIND_SPECIFIC_KEYS[kind])
    ints = {name: _int(rule[name], f"{where}.{name}") for name in int_keys}
    standing = _bool(rule["good_standing_required"], f"{where}.good_standing_required")
    return EligibilityRule(good_standing_required=standing, **ints)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PolicyConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _check_keys(
    data: Mapping[str, Any], expected: set[str], where: str, optional: frozenset[str] = frozenset()
) -> None:
    missing = sorted(expected - set(data))
    unknown = sorted(set(data) - expected - optional)
    labelled = (("missing", missing), ("unknown", unknown))
    problems = [f"{label} keys {keys}" for label, keys in labelled if keys]
    if problems:
        raise PolicyConfigError(f"{where}: " + "; ".join(problems))


def _int(value: Any, where: str) -> int:
    # bool is an int subclass; "true" as a budget is a config mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyConfigError(f"{where}: expected an integer, got {value!r}")
    name = where.rsplit(".", 1)[-1]
    low = _LOWER_BOUNDS.get(name, 0)
    high = _UPPER_BOUNDS.get(name)
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise PolicyConfigError(f"{where}: must be {bounds}, got {value}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def _currency(code: Any, where: str = "authority") -> str:
    # The one currency table (billing.money) decides what a currency is: a code it lacks could not be billed.
    if not isinstance(code, str) or code not in CURRENCY_EXPONENTS:
        raise PolicyConfigError(f"{where}: currency must be an ISO 4217 code, got {code!r}")
    return code
