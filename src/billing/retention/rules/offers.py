"""The offer an agent is shown for a case: drawn from the discount policy, and withheld in the control arm.

Pure: the caller supplies the account facts, the policy (src/billing/discounts/rules/) and the case's arm
(src/billing/retention/rules/arms.py). Treatment: the most generous retention offer the policy allows this account
within a front-line agent's per-grant authority, so it can be given without a second approval:
1. a percent discount on the next invoices (the retention offer for established customers), then
2. a fixed amount off the next invoice.
None while the customer has a dispute open. Control and not-eligible cases get ``None``: no offer is suggested,
which is what makes the control arm a fair comparison. Credit notes are not offers; they correct billing errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from billing.discounts.rules.policy import AuthorityPolicy, EligibilityRule, GrantKind, Role
from billing.money import percent_of

PREFERRED_PERCENT_BP = 1500  # 15 % when the policy allows it
PREFERRED_INVOICES = 3
FIXED_SHARE_BP = 2000  # a fixed offer worth 20 % of one monthly bill


@dataclass(frozen=True)
class AccountFacts:
    account_id: str
    currency: str
    tenure_days: int
    good_standing: bool  # billing.accounts.rules.standing: no overdue invoice
    monthly_bill_minor: int  # the latest invoice total, the base of every offer
    days_since_discount: Mapping[GrantKind, int] = field(default_factory=dict)  # kinds never given: absent
    open_disputes: int = 0


@dataclass(frozen=True)
class Offer:
    practice: str  # as recorded on task.completed.v1: discount_percent | discount_fixed
    grant_kind: GrantKind
    amount_minor: int  # the money value of the whole offer
    currency: str
    percent_bp: int | None = None
    invoice_count: int | None = None


def eligible(rule: EligibilityRule, facts: AccountFacts, kind: GrantKind) -> bool:
    if facts.tenure_days < rule.min_tenure_days:
        return False
    if rule.good_standing_required and not facts.good_standing:
        return False
    since = facts.days_since_discount.get(kind)
    return not (
        rule.no_similar_discount_within_days and since is not None and since < rule.no_similar_discount_within_days
    )


def _percent_offer(facts: AccountFacts, rule: EligibilityRule, cap_minor: int) -> Offer | None:
    percent_bp = min(PREFERRED_PERCENT_BP, rule.max_percent_bp or PREFERRED_PERCENT_BP)
    # Fewer invoices rather than a smaller percent when the agent's authority caps the value.
    for count in range(min(PREFERRED_INVOICES, rule.max_invoice_count or PREFERRED_INVOICES), 0, -1):
        # Valued exactly as the authority will value the grant (billing.discounts.rules.decisions): an offer that
        # fits the cap here must fit it there, so both round once, half up, by the money rule.
        amount = percent_of(facts.monthly_bill_minor * count, percent_bp)
        if 0 < amount <= cap_minor:
            return Offer("discount_percent", GrantKind.PERCENT_NEXT_INVOICES, amount, facts.currency, percent_bp, count)
    return None


def _fixed_offer(facts: AccountFacts, cap_minor: int) -> Offer | None:
    amount = min(percent_of(facts.monthly_bill_minor, FIXED_SHARE_BP), cap_minor)
    if amount <= 0:
        return None
    return Offer("discount_fixed", GrantKind.FIXED_NEXT_INVOICE, amount, facts.currency)


def suggest_offer(facts: AccountFacts, policy: AuthorityPolicy, arm: str, role: Role = Role.AGENT) -> Offer | None:
    """The offer to suggest for a case in ``arm``; None in the control arm, or when nothing is allowed."""
    if arm != "treatment" or not policy.supports(facts.currency):
        return None
    if facts.open_disputes:
        # The customer contests a bill: the dispute is answered first; an offer made meanwhile would read as a
        # price for dropping it. (Not a matter of standing: disputing a bill is the customer's right.)
        return None
    cap = policy.authority_for(facts.currency, role).max_per_grant_minor
    percent_rule = policy.rule_for(GrantKind.PERCENT_NEXT_INVOICES)
    if eligible(percent_rule, facts, GrantKind.PERCENT_NEXT_INVOICES):
        offer = _percent_offer(facts, percent_rule, cap)
        if offer is not None:
            return offer
    if eligible(policy.rule_for(GrantKind.FIXED_NEXT_INVOICE), facts, GrantKind.FIXED_NEXT_INVOICE):
        return _fixed_offer(facts, cap)
    return None
