"""Priority terms by hand, caps and boundaries, and weights from config."""

import pytest
from care_test_factories import facts

from billing.care.rules.priority import (
    Overdue,
    PriorityConfigError,
    PriorityWeights,
    band_points,
    collections_priority,
    explain_collections_priority,
    explain_priority,
    priority,
)
from billing.care.rules.routing_rules import Route

DISPUTE = Route("disputes", 30, "dispute")


def test_every_term_by_hand_with_default_weights() -> None:
    account = facts(
        average_invoice_minor=12_000,
        tenure_days=800,
        open_disputes=2,
        disputed_amount_minor=15_000,
        repeat_calls=1,
    )
    assert explain_priority(DISPUTE, account, waited_seconds=100) == [
        ("base", 30),
        ("customer_value", 10),  # 12_000 reaches the 10_000 band, not 25_000
        ("tenure", 3),  # 800 days: past 365, short of 3 * 365 = 1095
        ("cancellation_intent", 0),
        ("repeat_calls", 8),  # 1 call * 8
        ("open_disputes", 12),  # 2 * 6, below the cap of 18
        ("disputed_amount", 8),  # 15_000 reaches the 10_000 band
        ("aging", 6),  # 100 // 15 = 6
    ]
    # 30 + 10 + 3 + 0 + 8 + 12 + 8 + 6 = 77
    assert priority(DISPUTE, account, 100) == 77


def test_capped_terms_and_missing_invoice_history() -> None:
    account = facts(
        average_invoice_minor=None,
        tenure_days=0,
        open_disputes=4,
        repeat_calls=5,
        cancellation_intent=True,
    )
    terms = dict(explain_priority(Route("supervisors", 60, "x"), account, waited_seconds=3_600))
    assert terms["customer_value"] == 0
    assert terms["repeat_calls"] == 24  # 5 * 8 = 40, capped at 24
    assert terms["open_disputes"] == 18  # 4 * 6 = 24, capped at 18
    assert terms["aging"] == 40  # 3600 // 15 = 240, capped at 40
    # 60 + 0 + 0 + 25 + 24 + 18 + 0 + 40 = 167
    assert sum(terms.values()) == 167


@pytest.mark.parametrize(("waited", "points"), [(-30, 0), (0, 0), (14.999, 0), (15, 1), (599, 39), (600, 40)])
def test_aging_steps_and_clock_skew(waited: float, points: int) -> None:
    assert dict(explain_priority(DISPUTE, facts(), waited))["aging"] == points


@pytest.mark.parametrize(("value", "points"), [(None, 0), (0, 0), (4_999, 0), (5_000, 5), (25_000, 20)])
def test_band_edges_are_inclusive(value: int | None, points: int) -> None:
    assert band_points(PriorityWeights().customer_value_bands, value) == points


def test_weights_from_dict_keep_defaults_for_missing_keys() -> None:
    weights = PriorityWeights.from_dict(
        {
            "aging_step_seconds": 30,
            "customer_value_bands": [
                {"at_least": 1_000, "points": 2},
                {"at_least": 2_000, "points": 4},
            ],
        }
    )
    assert weights.aging_step_seconds == 30
    assert weights.customer_value_bands == ((1_000, 2), (2_000, 4))
    assert weights.cancellation_intent_points == PriorityWeights().cancellation_intent_points
    # base 30 + value 4 (5_000 >= 2_000) + aging 100 // 30 = 3
    assert priority(DISPUTE, facts(average_invoice_minor=5_000), 100, weights) == 37


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"aging_cap_points": 3}, "unknown key(s) aging_cap_points"),
        ({"aging_step_seconds": 0}, "aging_step_seconds: must be at least 1"),
        ({"repeat_call_points": -1}, "repeat_call_points: must not be negative"),
        ({"repeat_call_points": "8"}, "repeat_call_points: expected an integer"),
        (
            {"tenure_bands": [{"at_least": 10, "points": 1}, {"at_least": 5, "points": 2}]},
            "tenure_bands: thresholds must be strictly ascending",
        ),
        (
            {"tenure_bands": [{"at_least": 5, "points": 3}, {"at_least": 10, "points": 2}]},
            "tenure_bands: points must not decrease",
        ),
        ({"tenure_bands": [{"at_least": 5}]}, "tenure_bands[0]: missing 'points'"),
    ],
)
def test_invalid_weights_are_rejected(config: dict, message: str) -> None:
    with pytest.raises(PriorityConfigError) as raised:
        PriorityWeights.from_dict(config)
    assert message in str(raised.value)


def test_a_collections_call_adds_the_overdue_amount_and_age_to_the_account_terms() -> None:
    account = facts(average_invoice_minor=12_000, tenure_days=800)
    route = Route("collections", 40, "collections_call")
    terms = explain_collections_priority(route, account, Overdue(amount_minor=25_000, days=31), 0)
    assert terms[-2:] == [("overdue_amount", 10), ("days_overdue", 10)]  # 25,000 reaches 20,000; 31 reaches 30
    # 40 + 10 (value) + 3 (tenure) + 10 + 10 = 73; the call terms are the same as a routed task's.
    assert collections_priority(route, account, Overdue(25_000, 31), 0) == 73 == priority(route, account, 0) + 20
    assert collections_priority(route, account, Overdue(4_999, 13), 0) == priority(route, account, 0)
    weights = PriorityWeights.from_dict({"overdue_amount_bands": [{"at_least": 1, "points": 50}]})
    assert dict(explain_collections_priority(route, account, Overdue(1, 0), 0, weights))["overdue_amount"] == 50
