"""The report from counters: hand-computed rates, uplift, cost per retained customer, ranking, and renderings."""

from datetime import date

import pytest

from billing.retention.report_html import render_html
from billing.retention.report_text import format_report
from billing.retention.rules.arms import Arm
from billing.retention.rules.counters import CounterKey, RetentionCounters, Tally
from billing.retention.rules.plan import AnalysisPlan
from billing.retention.rules.report import ReportInputs, ServiceWeek, build_report

# The experiment these counters come from was planned for 200 cases per practice, comparing both practices, each
# withheld in the control arm (randomised): only withheld practices are tested, starred and ranked.
PLAN = AnalysisPlan(
    practices=("credit", "explanation_only"), withheld=("credit", "explanation_only"), planned_cases=200
)


def _inputs() -> ReportInputs:
    counters = RetentionCounters(
        {
            # credit: treatment 80 of 100 retained (waits < 20 s), control 60 of 100 (waits 60-180 s)
            CounterKey("credit", Arm.TREATMENT, 90, 10): Tally(100, 80),
            CounterKey("credit", Arm.CONTROL, 90, 100): Tally(100, 60),
            # explanation_only: 50 of 100 in both arms
            CounterKey("explanation_only", Arm.TREATMENT, 90, 10): Tally(100, 50),
            CounterKey("explanation_only", Arm.CONTROL, 90, 10): Tally(100, 50),
        }
    )
    money = {("credit", "treatment", 90, "EUR"): 50_000, ("explanation_only", "treatment", 90, "EUR"): 0}
    survival = [
        ("credit", "treatment", 12, 20, 0),
        ("credit", "treatment", 90, 0, 80),
        ("credit", "control", 40, 40, 0),
        ("credit", "control", 90, 0, 60),
    ]
    service = [ServiceWeek(date(2026, 1, 5), offered=10, answered=8, answered_within=6, abandoned=2)]
    return ReportInputs(counters, money, survival, service)


def test_rates_uplift_and_cost_are_the_hand_computed_ones() -> None:
    report = build_report(_inputs(), plan=PLAN)
    credit = next(r for r in report["practices"] if r["practice"] == "credit")
    assert credit["treatment"]["rate"] == pytest.approx(0.8)
    assert credit["control"]["rate"] == pytest.approx(0.6)
    assert credit["uplift"]["difference"] == pytest.approx(0.2)
    # pooled p = 140/200 = 0.7; se = sqrt(0.7*0.3*(2/100)) = 0.0648; z = 0.2/0.0648 = 3.086
    assert credit["uplift"]["z"] == pytest.approx(3.086, abs=1e-3)
    assert credit["significant"] is True
    # extra retained = 80 - 60 * 100/100 = 20; 50,000 minor / 20 = 2,500 minor per retained customer
    assert credit["cost_per_retained_minor"] == {"EUR": "2500"}
    null = next(r for r in report["practices"] if r["practice"] == "explanation_only")
    assert null["uplift"]["difference"] == 0 and null["significant"] is False
    assert null["cost_per_retained_minor"] == {"EUR": None}  # nobody retained extra: no finite cost
    assert [r["practice"] for r in report["ranking"]] == ["credit", "explanation_only"]


def test_wait_bands_pool_every_practice_and_arm() -> None:
    bands = {b["band"]: b for b in build_report(_inputs(), plan=PLAN)["wait_bands"]}
    # < 20 s: credit treatment 80/100 + explanation 50/100 + 50/100 = 180/300; 60-180 s: credit control 60/100
    assert (bands["<20s"]["cases"], bands["<20s"]["retained"]) == (300, 180)
    assert (bands["60-180s"]["cases"], bands["60-180s"]["retained"]) == (100, 60)
    assert bands["20-60s"]["cases"] == 0


def test_survival_curves_and_service_weeks() -> None:
    report = build_report(_inputs(), plan=PLAN)
    treatment = report["survival"]["credit"]["treatment"]
    assert treatment[0]["day"] == 12 and treatment[0]["survival"] == pytest.approx(0.8)  # 1 - 20/100
    assert report["survival"]["credit"]["control"][0]["survival"] == pytest.approx(0.6)
    assert report["survival"]["credit"]["log_rank_p"] < 0.05  # the curves differ
    week = report["service"][0]
    assert week["service_level"] == pytest.approx(6 / 8) and week["abandonment_rate"] == pytest.approx(2 / 10)


def test_terminal_table_and_html_carry_the_numbers() -> None:
    report = build_report(_inputs(), plan=PLAN)
    table = format_report(report)
    # Money in the currency's units (2500 minor units of EUR are 25.00 EUR, never "2500 EUR")
    assert "credit" in table and "+20.0 pp *" in table and "25.00 EUR" in table and "2500 EUR" not in table
    page = render_html(report)
    assert page.count('src="data:image/png;base64,') == 4
    assert "<script" not in page  # self-contained and static


def test_an_empty_report_still_renders() -> None:
    report = build_report(ReportInputs(RetentionCounters()))
    assert report["practices"] == [] and report["ranking"] == []
    assert "no practice has both arms yet" in format_report(report)
    assert render_html(report).count("data:image/png") == 4
