"""Default discount authority, in the layout documented in ``policy.py``.

Amounts are minor units (EUR cents, JPY yen). Orders of magnitude follow
common care-desk practice: a front-line agent settles a typical complaint
(one month's fee or a few euros off) alone, tier 2 handles retention offers,
and a supervisor covers the rare large goodwill gesture.
"""

from __future__ import annotations

from typing import Any


def _role(per_grant: int, monthly: int, per_customer: int, approves: bool, plan_change: int) -> dict[str, Any]:
    return {
        "max_per_grant_minor": per_grant,
        "monthly_budget_minor": monthly,
        "max_per_customer_12m_minor": per_customer,
        "can_approve_others": approves,
        "max_plan_change_reduction_minor": plan_change,
    }


DEFAULT_POLICY_DATA: dict[str, Any] = {
    "authority": {
        "EUR": {
            # Front-line agents never act as the second person: separation of
            # duties only means something if the approver is more senior.
            # A cheaper plan pays the customer back every month, so an agent moves a customer down by at most
            # 15 EUR a month alone (the demo's mobile-l to mobile-s is 19.00 less: tier 2 or a supervisor).
            "agent": _role(2_500, 50_000, 5_000, approves=False, plan_change=1_500),
            "tier2": _role(10_000, 200_000, 15_000, approves=True, plan_change=5_000),
            "supervisor": _role(50_000, 1_000_000, 60_000, approves=True, plan_change=20_000),
        },
        "JPY": {
            "agent": _role(3_000, 60_000, 6_000, approves=False, plan_change=1_800),
            "tier2": _role(12_000, 250_000, 20_000, approves=True, plan_change=6_000),
            "supervisor": _role(60_000, 1_200_000, 80_000, approves=True, plan_change=24_000),
        },
    },
    "eligibility": {
        # Percent discounts are retention offers: only for established,
        # paying customers, and not as a standing habit.
        "percent_next_invoices": {
            "min_tenure_days": 180,
            "good_standing_required": True,
            "no_similar_discount_within_days": 90,
            "max_percent_bp": 2_500,
            "max_invoice_count": 6,
        },
        "fixed_next_invoice": {
            "min_tenure_days": 90,
            "good_standing_required": True,
            "no_similar_discount_within_days": 60,
        },
        # Credit notes correct billing errors, which happen to new and overdue
        # customers too, and two errors in a month are two corrections.
        "credit_note": {
            "min_tenure_days": 0,
            "good_standing_required": False,
            "no_similar_discount_within_days": 0,
        },
    },
    # Whoever opened a dispute settles a small one on the spot (a wrong 10-euro charge); a larger credit is
    # resolved, or approved, by someone else, so no one person both raises a claim and pays it out.
    "disputes": {
        "EUR": {"max_credit_by_opener_minor": 1_000},
        "JPY": {"max_credit_by_opener_minor": 1_200},
    },
}
