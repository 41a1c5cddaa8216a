"""Retention counters and the report built from them, checked by hand."""

import pytest

from billing.retention.rules.arms import Arm
from billing.retention.rules.counters import (
    DEFAULT_WAIT_BANDS,
    RetentionCounters,
    Tally,
    WaitBands,
    add_case_outcome,
    merge,
    report,
    wait_bucket_s,
)
from billing.retention.rules.stats import wilson_interval


def _cases(counters, practice, arm, horizon, wait_s, cases, retained):
    for number in range(cases):
        counters = add_case_outcome(counters, practice, arm, horizon, number < retained, wait_s)
    return counters


def _example() -> RetentionCounters:
    # pct15 at 90 days: treatment 80/100 (54/60 waited 10 s, 26/40 waited 200 s),
    # control 30/50 (21/30 waited 12 s, 9/20 waited 65 s); "callback" has no control.
    counters = RetentionCounters()
    for arm, wait_s, cases, retained in [
        ("treatment", 10, 60, 54),
        ("treatment", 200, 40, 26),
        ("control", 12, 30, 21),
        ("control", 65, 20, 9),
    ]:
        counters = _cases(counters, "pct15", arm, 90, wait_s, cases, retained)
    return _cases(counters, "callback", Arm.TREATMENT, 30, 45.5, 10, 7)


def test_report_rows_compare_arms_with_wilson_and_z_test():
    rows = report(_example())
    assert [(row.practice, row.horizon_days) for row in rows] == [("callback", 30), ("pct15", 90)]
    pct15 = rows[1]
    assert (pct15.treatment.cases, pct15.treatment.retained, pct15.treatment.rate) == (100, 80, 0.8)
    assert (pct15.control.cases, pct15.control.retained, pct15.control.rate) == (50, 30, 0.6)
    assert (pct15.treatment.ci_low, pct15.treatment.ci_high) == wilson_interval(80, 100)
    # pooled p = 110/150 = 0.733333; SE = sqrt(0.733333 * 0.266667 * (1/100 + 1/50))
    # = 0.0765942; z = 0.2 / 0.0765942 = 2.611165; p = erfc(2.611165 / sqrt 2) = 0.009023
    assert pct15.uplift.z == pytest.approx(2.611165, abs=1e-6)
    assert pct15.uplift.p_value_two_sided == pytest.approx(0.009023, abs=1e-6)
    assert pct15.uplift.difference == pytest.approx(0.2)
    assert pct15.significant


def test_report_splits_retention_by_wait_band():
    bands = report(_example())[1].by_wait_band
    assert [band.band for band in bands] == ["<20s", "20-60s", "60-180s", ">=180s"]
    assert [(b.treatment.cases, b.treatment.retained, b.control.cases, b.control.retained) for b in bands] == [
        (60, 54, 30, 21),
        (0, 0, 0, 0),
        (0, 0, 20, 9),
        (40, 26, 0, 0),
    ]
    empty = bands[1].treatment
    assert (empty.rate, empty.ci_low, empty.ci_high) == (None, 0.0, 1.0)


def test_the_same_counters_answer_other_bands_later():
    bands = report(_example(), bands=WaitBands((60,)))[1].by_wait_band
    assert [(b.band, b.treatment.cases, b.control.cases) for b in bands] == [("<60s", 60, 30), (">=60s", 40, 20)]
    assert [b.band for b in report(_example(), bands=WaitBands(()))[0].by_wait_band] == ["all"]


def test_an_arm_without_cases_gives_no_uplift_and_no_significance():
    callback = report(_example())[0]
    assert callback.control.cases == 0 and callback.uplift is None and not callback.significant
    assert callback.by_wait_band[1].treatment == callback.treatment  # 45.5 s is 20-60 s


def test_merge_adds_counters_key_by_key():
    left = _cases(RetentionCounters(), "p", "control", 30, 0, 3, 1)
    right = _cases(RetentionCounters(), "p", "control", 30, 4.9, 2, 2)
    merged = merge(left, right, RetentionCounters())
    assert list(merged.tallies.values()) == [Tally(5, 3)]
    assert merge() == RetentionCounters()


@pytest.mark.parametrize(("wait", "bucket"), [(0, 0), (4.99, 0), (19.99, 15), (20, 20), (5000, 900)])
def test_waits_fall_into_5_second_buckets_capped_at_900(wait, bucket):
    assert wait_bucket_s(wait) == bucket


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: add_case_outcome(RetentionCounters(), "p", "control", 45, True, 1), "one of"),
        (lambda: add_case_outcome(RetentionCounters(), "p", "control", 30, True, -1), "negative"),
        (lambda: add_case_outcome(RetentionCounters(), "p", "holdout", 30, True, 1), "holdout"),
        (lambda: WaitBands((60, 20)), "strictly ascending"),
        (lambda: WaitBands((7,)), "multiples of 5 s"),
        (lambda: WaitBands((1000,)), "up to 900 s"),
    ],
)
def test_invalid_outcomes_and_bands_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_default_bands_are_the_usual_care_desk_bands():
    assert DEFAULT_WAIT_BANDS.labels == ("<20s", "20-60s", "60-180s", ">=180s")
