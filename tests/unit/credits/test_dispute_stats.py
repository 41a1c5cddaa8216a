"""Time-to-resolve statistics: hand cases and properties of the nearest-rank percentile."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.credits.rules.dispute_stats import nearest_rank, summarise


def test_hand_case() -> None:
    # Ten resolutions of 1..10 hours: median = 5th value (ceil(0.5 * 10) = 5) = 5 h; p90 = 9th = 9 h.
    hour = 3_600_000
    outcomes = [("credited" if i % 2 else "rejected", i * hour, 100 * i if i % 2 else 0) for i in range(1, 11)]
    summary = summarise(outcomes)
    assert (summary.resolved, summary.credited, summary.rejected) == (10, 5, 5)
    assert (summary.median_resolve_ms, summary.p90_resolve_ms) == (5 * hour, 9 * hour)
    assert summary.credited_minor == 100 + 300 + 500 + 700 + 900  # 2,500


def test_empty_and_bounds() -> None:
    assert summarise([]).median_resolve_ms is None
    assert nearest_rank([7], 1) == nearest_rank([7], 100) == 7
    with pytest.raises(ValueError):
        nearest_rank([1], 0)


@given(st.lists(st.integers(0, 10**9), min_size=1), st.integers(1, 100))
def test_the_percentile_is_a_value_with_enough_at_or_below(values: list[int], percent: int) -> None:
    ordered = sorted(values)
    found = nearest_rank(ordered, percent)
    assert found in values
    at_or_below = sum(1 for v in values if v <= found)
    assert at_or_below * 100 >= percent * len(values)
    assert sum(1 for v in values if v < found) * 100 < percent * len(values)
