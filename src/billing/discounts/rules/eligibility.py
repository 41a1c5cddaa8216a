"""Rules that make a customer or a request ineligible, whoever asks.

Eligibility is not authority: a refused grant cannot be rescued by a
supervisor's approval, so these run before any limit is looked at, and again
when an approval arrives (the history may have changed meanwhile).

Each rule is a ``(name, check)`` pair in ``ELIGIBILITY_RULES``; ``check``
returns a human explanation when the rule refuses and ``None`` otherwise.
The name is the policy key, so a refusal points at the configuration line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from billing.accounts.rules.standing import standing_shortfall
from billing.discounts.rules.grants import CustomerStanding, GrantHistory, GrantRequest, Refused
from billing.discounts.rules.policy import AuthorityPolicy, EligibilityRule, GrantKind

_KIND_LABELS: Mapping[GrantKind, str] = {
    GrantKind.PERCENT_NEXT_INVOICES: "a percent discount",
    GrantKind.FIXED_NEXT_INVOICE: "a fixed discount",
    GrantKind.CREDIT_NOTE: "a credit note",
}


@dataclass(frozen=True)
class EligibilityCase:
    request: GrantRequest
    customer: CustomerStanding
    history: GrantHistory
    policy: AuthorityPolicy
    now: datetime

    @property
    def rule(self) -> EligibilityRule:
        return self.policy.rule_for(self.request.kind)


def _currency(case: EligibilityCase) -> str | None:
    if case.policy.supports(case.request.currency):
        return None
    return f"no discount authority is configured for {case.request.currency}"


def _max_percent_bp(case: EligibilityCase) -> str | None:
    limit, asked = case.rule.max_percent_bp, case.request.percent_bp
    if limit is None or asked is None or asked <= limit:
        return None
    return f"{asked} bp requested (limit {limit} bp)"


def _max_invoice_count(case: EligibilityCase) -> str | None:
    limit, asked = case.rule.max_invoice_count, case.request.invoice_count
    if limit is None or asked is None or asked <= limit:
        return None
    return f"{asked} invoices requested (limit {limit})"


def _min_tenure_days(case: EligibilityCase) -> str | None:
    tenure = case.customer.tenure_days(case.now)
    if tenure >= case.rule.min_tenure_days:
        return None
    return f"customer for {tenure} days (minimum {case.rule.min_tenure_days})"


def _good_standing(case: EligibilityCase) -> str | None:
    # What good standing means is the accounts context's rule, shared with the retention offer.
    shortfall = standing_shortfall(case.customer.overdue_invoice_count)
    if not case.rule.good_standing_required or shortfall is None:
        return None
    return f"{shortfall}; good standing is required"


def _no_similar_discount(case: EligibilityCase) -> str | None:
    window_days = case.rule.no_similar_discount_within_days
    latest = case.history.latest_similar(case.request.account_id, case.request.kind)
    if window_days == 0 or latest is None:
        return None
    age = case.now - latest.granted_at
    if age >= timedelta(days=window_days):
        return None
    label = _KIND_LABELS[case.request.kind]
    return f"{label} was granted {age.days} days ago (limit {window_days})"


# Order matters only for which reason is reported first; currency goes first
# because the later rules and the authority lookup assume it is configured.
ELIGIBILITY_RULES: tuple[tuple[str, Callable[[EligibilityCase], str | None]], ...] = (
    ("currency", _currency),
    ("max_percent_bp", _max_percent_bp),
    ("max_invoice_count", _max_invoice_count),
    ("min_tenure_days", _min_tenure_days),
    ("good_standing_required", _good_standing),
    ("no_similar_discount_within_days", _no_similar_discount),
)


def first_refusal(case: EligibilityCase) -> Refused | None:
    for name, check in ELIGIBILITY_RULES:
        explanation = check(case)
        if explanation is not None:
            return Refused(rule=name, reason=f"{name}: {explanation}")
    return None
