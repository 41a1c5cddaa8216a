"""Invariants of the retention statistics over arbitrary counts."""

import itertools
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.retention.rules.arms import Arm
from billing.retention.rules.counters import (
    HORIZONS_DAYS,
    RetentionCounters,
    Tally,
    add_case_outcome,
    merge,
    report,
)
from billing.retention.rules.stats import cost_per_retained, two_proportion_z_test, wilson_interval
from billing.retention.rules.survival import km_curve, log_rank_test


@st.composite
def successes_and_n(draw, max_n: int = 100_000) -> tuple[int, int]:
    n = draw(st.integers(0, max_n))
    return draw(st.integers(0, n)), n


@given(successes_and_n(), st.floats(0.0, 5.0))
def test_wilson_bounds_lie_in_unit_interval_and_contain_the_rate(counts, z):
    successes, n = counts
    low, high = wilson_interval(successes, n, z)
    assert 0.0 <= low <= high <= 1.0
    if n:
        assert low <= successes / n <= high


@given(successes_and_n(1000).filter(lambda c: c[1] > 0), successes_and_n(1000).filter(lambda c: c[1] > 0))
def test_z_test_is_antisymmetric_and_its_interval_holds_the_difference(first, second):
    forward = two_proportion_z_test(*first, *second)
    backward = two_proportion_z_test(*second, *first)
    assert forward.z == -backward.z and forward.difference == -backward.difference
    assert forward.p_value_two_sided == backward.p_value_two_sided
    assert 0.0 <= forward.p_value_two_sided <= 1.0
    assert forward.ci_low <= forward.difference <= forward.ci_high


@given(
    st.integers(0, 10**9),
    successes_and_n(5000).filter(lambda c: c[1] > 0),
    successes_and_n(5000).filter(lambda c: c[1] > 0),
)
def test_cost_per_retained_times_extra_customers_is_the_money(money, treated, control):
    cost = cost_per_retained(money, treated[1], treated[0], control[1], control[0])
    extra = Fraction(treated[0]) - Fraction(control[0] * treated[1], control[1])
    if extra <= 0:
        assert cost is None
    else:
        assert abs(Fraction(cost) * extra - money) <= Fraction(money + 1, 10**30)


events = st.lists(st.tuples(st.integers(0, 400), st.integers(0, 30), st.integers(0, 30)), max_size=25)


@given(events)
def test_km_survival_never_rises_and_its_interval_holds_it(table):
    curve = km_curve(table)
    survivals = [point.survival for point in curve]
    assert all(later <= earlier for earlier, later in itertools.pairwise(survivals))
    for point in curve:
        assert 0.0 <= point.ci_low <= point.survival <= point.ci_high <= 1.0
    assert [point.time for point in curve] == sorted({time for time, _, _ in table})


@given(events, events)
def test_log_rank_is_symmetric_and_well_formed(group_a, group_b):
    forward, backward = log_rank_test(group_a, group_b), log_rank_test(group_b, group_a)
    assert forward.chi2 >= 0.0 and 0.0 <= forward.p_value <= 1.0
    assert abs(forward.chi2 - backward.chi2) <= 1e-9 * max(1.0, forward.chi2)


outcomes = st.lists(
    st.tuples(
        st.sampled_from(["pct15", "fixed5", "callback"]),
        st.sampled_from(list(Arm)),
        st.sampled_from(HORIZONS_DAYS),
        st.booleans(),
        st.floats(0, 2000),
    ),
    max_size=60,
)


def _counted(batch) -> RetentionCounters:
    counters = RetentionCounters()
    for outcome in batch:
        counters = add_case_outcome(counters, *outcome)
    return counters


@settings(deadline=None)
@given(outcomes, st.lists(st.integers(0, 60), max_size=5), st.randoms())
def test_any_batching_and_order_gives_the_same_counters(all_outcomes, cuts, random):
    edges = sorted({0, len(all_outcomes), *(c for c in cuts if c <= len(all_outcomes))})
    batches = [all_outcomes[a:b] for a, b in itertools.pairwise(edges)]
    random.shuffle(batches)
    assert merge(*map(_counted, batches)) == _counted(all_outcomes)


@settings(deadline=None)
@given(outcomes)
def test_report_totals_equal_their_wait_bands_and_the_case_count(all_outcomes):
    rows = report(_counted(all_outcomes))
    assert sum(row.treatment.cases + row.control.cases for row in rows) == len(all_outcomes)
    for row in rows:
        for arm in ("treatment", "control"):
            total = getattr(row, arm)
            bands = [getattr(band, arm) for band in row.by_wait_band]
            assert sum((Tally(b.cases, b.retained) for b in bands), Tally()) == Tally(total.cases, total.retained)
