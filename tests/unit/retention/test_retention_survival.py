"""Kaplan-Meier and log-rank on a tiny hand example and a textbook data set."""

import math

import pytest

from billing.retention.rules.survival import KmPoint, km_curve, km_steps, log_rank_test

# Tiny cohort of 6: churn at day 2; one censored at 3; two churn at 5;
# at 8 one churns and one is censored.
TINY = [(5, 2, 0), (2, 1, 0), (3, 0, 1), (8, 1, 1)]

# Freireich et al. (1963) leukaemia remission data (weeks), the standard
# worked example of Klein & Moeschberger ("Survival Analysis", 2nd ed., 4.2)
# and Kleinbaum & Klein ("Survival Analysis: A Self-Learning Text", ch. 2).
# 6-MP arm: 21 patients, 9 relapses; placebo arm: 21 patients, 21 relapses.
SIX_MP = [
    (6, 3, 1),
    (7, 1, 0),
    (9, 0, 1),
    (10, 1, 1),
    (11, 0, 1),
    (13, 1, 0),
    (16, 1, 0),
    (17, 0, 1),
    (19, 0, 1),
    (20, 0, 1),
    (22, 1, 0),
    (23, 1, 0),
    (25, 0, 1),
    (32, 0, 2),
    (34, 0, 1),
    (35, 0, 1),
]
PLACEBO = [
    (1, 2, 0),
    (2, 2, 0),
    (3, 1, 0),
    (4, 2, 0),
    (5, 2, 0),
    (8, 4, 0),
    (11, 2, 0),
    (12, 2, 0),
    (15, 1, 0),
    (17, 1, 0),
    (22, 1, 0),
    (23, 1, 0),
]


def test_tiny_cohort_life_table_by_hand():
    # t=2: n=6, d=1 -> S = 5/6;            Greenwood sum 1/(6*5) = 1/30
    # t=3: n=5, censored 1 -> S unchanged
    # t=5: n=4, d=2 -> S = 5/6 * 2/4 = 5/12; sum += 2/(4*2) -> 17/60
    # t=8: n=2, d=1 -> S = 5/12 * 1/2 = 5/24; sum += 1/(2*1) -> 47/60
    steps = km_steps(TINY)
    assert [(s.time, s.at_risk, s.churned, s.censored) for s in steps] == [
        (2, 6, 1, 0),
        (3, 5, 0, 1),
        (5, 4, 2, 0),
        (8, 2, 1, 1),
    ]
    assert [s.survival for s in steps] == pytest.approx([5 / 6, 5 / 6, 5 / 12, 5 / 24])
    assert [s.greenwood_sum for s in steps] == pytest.approx([1 / 30, 1 / 30, 17 / 60, 47 / 60])


def test_tiny_cohort_log_log_interval_by_hand():
    # t=5: ln S = ln(5/12) = -0.875469; sigma = sqrt(17/60) / 0.875469 = 0.608012
    # z sigma = 1.191681; exp(+-) = 3.292716 and 0.303701
    # low = (5/12)^3.292716 = 0.05599, high = (5/12)^0.303701 = 0.76652
    point = km_curve(TINY)[2]
    assert point.time == 5 and point.survival == pytest.approx(5 / 12)
    assert point.ci_low == pytest.approx(0.05599, abs=1e-5)
    assert point.ci_high == pytest.approx(0.76652, abs=1e-5)


def test_plain_interval_is_survival_plus_minus_z_greenwood_se():
    # t=5: SE = 5/12 * sqrt(17/60) = 0.221789; half width 1.959964 * 0.221789
    # = 0.434698, so 0.416667 - 0.434698 < 0 is clamped to 0; high = 0.851365
    point = km_curve(TINY, ci="plain")[2]
    assert point.ci_low == 0.0
    assert point.ci_high == pytest.approx(0.851365, abs=1e-5)


def test_six_mp_survival_and_greenwood_errors_match_the_textbook():
    # Published S(t) and Greenwood standard errors, rounded to 3 decimals.
    textbook = {
        6: (0.857, 0.076),
        7: (0.807, 0.087),
        10: (0.753, 0.096),
        13: (0.690, 0.107),
        16: (0.627, 0.114),
        22: (0.538, 0.128),
        23: (0.448, 0.135),
    }
    churn_steps = [s for s in km_steps(SIX_MP) if s.churned]
    assert [s.time for s in churn_steps] == list(textbook)
    for step in churn_steps:
        survival, standard_error = textbook[step.time]
        assert step.survival == pytest.approx(survival, abs=6e-4)
        assert step.survival * math.sqrt(step.greenwood_sum) == pytest.approx(standard_error, abs=6e-4)


def test_six_mp_log_log_interval_at_week_6_by_hand():
    # S = 6/7, ln S = -0.154151, sum = 3/(21*18) = 0.0079365, sigma = 0.089087/0.154151
    # = 0.577920; z sigma = 1.132701; low = exp(-0.154151 * 3.104162) = 0.61972,
    # high = exp(-0.154151 * 0.322148) = 0.95155
    first = km_curve(SIX_MP)[0]
    assert first == KmPoint(6, pytest.approx(6 / 7), pytest.approx(0.61972, abs=1e-5), pytest.approx(0.95155, abs=1e-5))


def test_log_rank_on_the_remission_data_matches_the_textbook():
    # Kleinbaum & Klein: O - E = 9 - 19.25 = -10.25 for 6-MP, Var = 6.2570,
    # chi2 = 10.25^2 / 6.2570 = 16.79 on 1 df, p = 0.0000417
    chi2, p_value = log_rank_test(SIX_MP, PLACEBO)
    assert chi2 == pytest.approx(16.79, abs=5e-3)
    assert p_value == pytest.approx(4.17e-5, rel=1e-2)
    assert log_rank_test(PLACEBO, SIX_MP).chi2 == pytest.approx(chi2)


def test_log_rank_of_identical_groups_and_of_no_churn_is_zero():
    assert log_rank_test(TINY, TINY).chi2 == pytest.approx(0.0)
    assert log_rank_test([(3, 0, 4)], [(5, 0, 2)]) == (0.0, 1.0)


def test_everyone_churning_drives_survival_and_its_interval_to_zero():
    curve = km_curve([(1, 1, 0), (4, 2, 0)])
    assert curve[-1] == KmPoint(4, 0.0, 0.0, 0.0)
    assert km_curve([]) == []
    assert km_curve([(3, 0, 5)]) == [KmPoint(3, 1.0, 1.0, 1.0)]


def test_repeated_times_are_added_and_negative_counts_refused():
    assert km_curve([(2, 1, 0), (2, 0, 1), (5, 1, 0)]) == km_curve([(5, 1, 0), (2, 1, 1)])
    with pytest.raises(ValueError, match="must not be negative"):
        km_curve([(2, -1, 0)])
