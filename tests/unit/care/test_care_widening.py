"""Widening steps by hand and policy validation."""

import pytest

from billing.care.rules.widening import (
    WideningConfigError,
    WideningPolicy,
    default_widening_policy,
    eligible_queues,
    seconds_until_next_widening,
)

POLICY = default_widening_policy()


@pytest.mark.parametrize(
    ("waited", "expected"),
    [
        (-3, ("billing",)),  # clock skew counts as a fresh task
        (119, ("billing",)),
        (120, ("billing", "tier2")),  # the step applies at exactly after_seconds
        (299.5, ("billing", "tier2")),
        (300, ("billing", "tier2", "supervisors")),
        (10_000, ("billing", "tier2", "supervisors")),
    ],
)
def test_billing_widens_to_tier2_then_supervisors(waited: float, expected: tuple[str, ...]) -> None:
    assert eligible_queues("billing", waited, POLICY) == expected


def test_queue_without_steps_never_widens() -> None:
    assert eligible_queues("supervisors", 10_000, POLICY) == ("supervisors",)
    assert eligible_queues("unknown", 10_000, POLICY) == ("unknown",)


def test_a_pool_added_twice_is_listed_once() -> None:
    policy = WideningPolicy.from_dict(
        {
            "chat": [
                {"after_seconds": 0, "add": ["tier2"]},
                {"after_seconds": 60, "add": ["tier2", "chat", "supervisors"]},
            ]
        }
    )
    assert eligible_queues("chat", 0, policy) == ("chat", "tier2")
    assert eligible_queues("chat", 60, policy) == ("chat", "tier2", "supervisors")


@pytest.mark.parametrize(("waited", "expected"), [(0, 120), (100, 20), (120, 180), (250.5, 49.5), (300, None)])
def test_seconds_until_next_widening(waited: float, expected: float | None) -> None:
    # billing steps at 120 and 300: from 100 s the next is 120 - 100 = 20 s away.
    assert seconds_until_next_widening("billing", waited, POLICY) == expected


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {
                "billing": [
                    {"after_seconds": 300, "add": ["a"]},
                    {"after_seconds": 120, "add": ["b"]},
                ]
            },
            "widening.billing: after_seconds must be strictly ascending, got [300, 120]",
        ),
        (
            {"billing": [{"after_seconds": 120, "add": []}]},
            "widening.billing[0].add: a step must add",
        ),
        ({"billing": [{"after_seconds": -1, "add": ["a"]}]}, "after_seconds: must be at least 0"),
        (
            {"billing": [{"after_s": 1, "add": ["a"]}]},
            "widening.billing[0]: unknown key(s) after_s",
        ),
        ({"billing": {"after_seconds": 1}}, "widening.billing: expected a list"),
        (
            {"billing": [{"after_seconds": 1, "add": [""]}]},
            "widening.billing[0].add[0]: expected a non-empty name",
        ),
    ],
)
def test_invalid_policy_is_rejected(config: dict, message: str) -> None:
    with pytest.raises(WideningConfigError) as raised:
        WideningPolicy.from_dict(config)
    assert message in str(raised.value)
