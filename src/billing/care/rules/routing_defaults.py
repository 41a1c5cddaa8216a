"""The production-like routing rule set, as the plain dict ``RoutingRules.from_dict``
reads (kept apart from the parser so operations can review it on its own).

Amounts are cents (currency exponent 2). Order matters: the strongest sign
that frontline billing cannot help comes first.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

_DEFAULT_RULES: dict[str, Any] = {
    "queues": ["billing", "disputes", "retention", "supervisors"],
    "rules": [
        # A third call about the same bill means frontline has already failed twice. Repeat calls count the
        # earlier calls only, so the third call is the one with two before it.
        {
            "name": "third_call_same_bill",
            "when": {"min_repeat_calls": 2},
            "queue": "supervisors",
            "base_priority": 60,
        },
        # Only retention agents may offer save discounts, so send churn risk there.
        {
            "name": "cancellation_call",
            "when": {"reason_in": ["cancellation_intent"]},
            "queue": "retention",
            "base_priority": 50,
        },
        {
            "name": "cancellation_flagged",
            "when": {"cancellation_intent": True},
            "queue": "retention",
            "base_priority": 45,
        },
        {
            "name": "large_dispute",
            "when": {"reason_in": ["dispute"], "min_disputed_amount_minor": 50_000},
            "queue": "disputes",
            "base_priority": 40,
        },
        {
            "name": "dispute",
            "when": {"reason_in": ["dispute"]},
            "queue": "disputes",
            "base_priority": 30,
        },
        # A bill question while a dispute is open is usually about that dispute.
        {
            "name": "question_on_open_dispute",
            "when": {"reason_in": ["bill_question"], "min_open_disputes": 1},
            "queue": "disputes",
            "base_priority": 25,
        },
        {
            "name": "high_value_billing",
            "when": {
                "reason_in": ["bill_question", "plan_change"],
                "min_average_invoice_minor": 15_000,
            },
            "queue": "billing",
            "base_priority": 20,
        },
        {"name": "default", "queue": "billing", "base_priority": 10},
    ],
}


def default_rules_config() -> dict[str, Any]:
    """A fresh copy each call, so a caller editing it cannot change the defaults."""
    return deepcopy(_DEFAULT_RULES)
