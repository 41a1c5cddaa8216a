"""Routing rules: the default rule set by hand, first-match order, and config errors."""

import pytest
from care_test_factories import facts

from billing.care.rules.routing_rules import (
    AccountFacts,
    Route,
    RoutingConfigError,
    RoutingRules,
    default_rules,
    default_rules_config,
    route,
)

RULES = default_rules()


@pytest.mark.parametrize(
    ("account", "reason", "expected"),
    [
        # The third call about the same bill (two earlier ones) beats every reason, even a cancellation.
        (
            facts(repeat_calls=2),
            "cancellation_intent",
            Route("supervisors", 60, "third_call_same_bill"),
        ),
        (facts(repeat_calls=3), "bill_question", Route("supervisors", 60, "third_call_same_bill")),
        # The second call (one earlier) is routed by its reason.
        (facts(repeat_calls=1), "cancellation_intent", Route("retention", 50, "cancellation_call")),
        # The account flag sends a plain bill question to retention too.
        (
            facts(cancellation_intent=True),
            "bill_question",
            Route("retention", 45, "cancellation_flagged"),
        ),
        # 50_000 is the inclusive threshold for a large dispute; one cent less is ordinary.
        (facts(disputed_amount_minor=50_000), "dispute", Route("disputes", 40, "large_dispute")),
        (facts(disputed_amount_minor=49_999), "dispute", Route("disputes", 30, "dispute")),
        (
            facts(open_disputes=1),
            "bill_question",
            Route("disputes", 25, "question_on_open_dispute"),
        ),
        (facts(open_disputes=1), "plan_change", Route("billing", 10, "default")),
        (
            facts(average_invoice_minor=15_000),
            "plan_change",
            Route("billing", 20, "high_value_billing"),
        ),
        (facts(average_invoice_minor=14_999), "plan_change", Route("billing", 10, "default")),
        # No invoice history never satisfies a minimum on the average invoice.
        (facts(average_invoice_minor=None), "bill_question", Route("billing", 10, "default")),
        (facts(average_invoice_minor=90_000), "other", Route("billing", 10, "default")),
    ],
)
def test_default_rules_route_by_hand(account: AccountFacts, reason: str, expected: Route) -> None:
    assert RULES.route(account, reason) == expected
    assert route(RULES, account, reason) == expected


def _config(*rules: dict) -> dict:
    return {"queues": ["billing", "vip", "supervisors"], "rules": list(rules)}


DEFAULT = {"name": "default", "queue": "billing", "base_priority": 1}


def test_first_matching_rule_wins_even_if_a_later_one_is_more_specific() -> None:
    rules = RoutingRules.from_dict(
        _config(
            {
                "name": "any_dispute",
                "when": {"reason_in": ["dispute"]},
                "queue": "supervisors",
                "base_priority": 5,
            },
            {
                "name": "vip_dispute",
                "when": {"reason_in": ["dispute"], "min_average_invoice_minor": 100},
                "queue": "vip",
                "base_priority": 9,
            },
            DEFAULT,
        )
    )
    assert rules.route(facts(average_invoice_minor=500), "dispute").rule_name == "any_dispute"


def test_all_conditions_of_a_rule_must_hold() -> None:
    rules = RoutingRules.from_dict(
        _config(
            {
                "name": "loyal_repeat",
                "when": {"min_tenure_days": 365, "min_repeat_calls": 2},
                "queue": "vip",
                "base_priority": 7,
            },
            DEFAULT,
        )
    )
    assert rules.route(facts(tenure_days=365, repeat_calls=2), "other").queue == "vip"
    assert rules.route(facts(tenure_days=364, repeat_calls=2), "other").queue == "billing"
    assert rules.route(facts(tenure_days=365, repeat_calls=1), "other").queue == "billing"


def test_cancellation_flag_false_matches_only_accounts_without_intent() -> None:
    rules = RoutingRules.from_dict(
        _config(
            {
                "name": "calm",
                "when": {"cancellation_intent": False},
                "queue": "vip",
                "base_priority": 2,
            },
            DEFAULT,
        )
    )
    assert rules.route(facts(cancellation_intent=False), "other").queue == "vip"
    assert rules.route(facts(cancellation_intent=True), "other").queue == "billing"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"rules": [DEFAULT]}, "routing: missing 'queues'"),
        (_config(), "at least the default rule"),
        (
            _config(
                {
                    "name": "x",
                    "when": {"min_open_disputes": 1},
                    "queue": "billing",
                    "base_priority": 1,
                }
            ),
            "the last rule must be the default",
        ),
        (
            _config(DEFAULT, {**DEFAULT, "name": "other_default"}),
            "rules[0] ('default'): only the last rule",
        ),
        (
            _config(
                {
                    "name": "x",
                    "when": {"min_open_dispute": 1},
                    "queue": "billing",
                    "base_priority": 1,
                },
                DEFAULT,
            ),
            "rules[0].when: unknown key(s) min_open_dispute",
        ),
        (
            _config(
                {
                    "name": "x",
                    "when": {"reason_in": ["billing_question"]},
                    "queue": "billing",
                    "base_priority": 1,
                },
                DEFAULT,
            ),
            "rules[0].when.reason_in: expected call reasons",
        ),
        (
            _config(
                {
                    "name": "x",
                    "when": {"min_repeat_calls": -1},
                    "queue": "billing",
                    "base_priority": 1,
                },
                DEFAULT,
            ),
            "rules[0].when.min_repeat_calls: must be at least 0",
        ),
        (
            _config(
                {
                    "name": "x",
                    "when": {"cancellation_intent": "yes"},
                    "queue": "billing",
                    "base_priority": 1,
                },
                DEFAULT,
            ),
            "expected true or false",
        ),
        (
            _config({"name": "x", "when": {}, "queue": "billing", "base_priority": 1}, DEFAULT),
            "is empty",
        ),
        (
            _config({**DEFAULT, "queue": "retention"}),
            "rules[0].queue: 'retention' is not one of the queues",
        ),
        (
            _config({**DEFAULT, "base_priority": "high"}),
            "rules[0].base_priority: expected an integer",
        ),
        (
            _config({**DEFAULT, "base_priority": True}),
            "rules[0].base_priority: expected an integer",
        ),
        (
            _config(
                {
                    "name": "default",
                    "when": {"min_repeat_calls": 1},
                    "queue": "billing",
                    "base_priority": 1,
                },
                DEFAULT,
            ),
            "duplicate rule names ['default']",
        ),
        (_config({**DEFAULT, "priority": 3}), "rules[0]: unknown key(s) priority"),
    ],
)
def test_invalid_configuration_is_rejected_with_its_path(config: dict, message: str) -> None:
    with pytest.raises(RoutingConfigError) as raised:
        RoutingRules.from_dict(config)
    assert message in str(raised.value)


def test_unknown_reason_at_routing_time_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown call reason 'refund'"):
        RULES.route(facts(), "refund")


def test_negative_account_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match="negative open_disputes"):
        facts(open_disputes=-1)


def test_default_config_is_a_fresh_copy() -> None:
    edited = default_rules_config()
    edited["rules"].clear()
    assert len(default_rules_config()["rules"]) == len(RULES.rules) == 8
