"""Issue 14 point 3: a practice the control arm also gets (not withheld) is observational only. Its arms differ by
whom the agents chose, not by chance: never starred, never ranked, not in Holm's family, and its row says so."""

import pytest

from billing.retention.report_text import format_report
from billing.retention.rules.arms import Arm
from billing.retention.rules.counters import CounterKey, RetentionCounters, Tally
from billing.retention.rules.decisions import OBSERVATIONAL, OBSERVATIONAL_VERDICT, RANDOMISED
from billing.retention.rules.plan import AnalysisPlan
from billing.retention.rules.report import ReportInputs, build_report

# credit is compared but not withheld; discount_percent is withheld (randomised).
PLAN = AnalysisPlan(practices=("credit", "discount_percent"), withheld=("discount_percent",), planned_cases=400)
ALONE = AnalysisPlan(practices=("discount_percent",), withheld=("discount_percent",), planned_cases=400)


def _inputs() -> ReportInputs:
    return ReportInputs(
        RetentionCounters(
            {
                # credit: a huge difference (95 % against 40 %) that would be starred and ranked first if tested
                CounterKey("credit", Arm.TREATMENT, 90, 10): Tally(200, 190),
                CounterKey("credit", Arm.CONTROL, 90, 10): Tally(200, 80),
                # discount_percent: 75 % against 60 %
                CounterKey("discount_percent", Arm.TREATMENT, 90, 10): Tally(200, 150),
                CounterKey("discount_percent", Arm.CONTROL, 90, 10): Tally(200, 120),
            }
        )
    )


def _primary(report: dict, practice: str) -> dict:
    return next(r for r in report["practices"] if r["practice"] == practice and r["horizon_days"] == 90)


def test_a_practice_not_withheld_is_never_starred_ranked_or_decided() -> None:
    report = build_report(_inputs(), plan=PLAN)
    credit = _primary(report, "credit")
    assert credit["uplift"]["difference"] == pytest.approx(0.55)  # the estimate is still shown
    assert credit["significant"] is False
    assert credit["decision"]["role"] == "observational"
    assert credit["decision"]["verdict"] == OBSERVATIONAL_VERDICT
    assert credit["decision"]["assignment"] == OBSERVATIONAL
    assert "p_value_adjusted" not in credit["decision"] and "decision_ci_low" not in credit["decision"]
    assert [r["practice"] for r in report["ranking"]] == ["discount_percent"]
    assert _primary(report, "discount_percent")["decision"]["assignment"] == RANDOMISED
    assert report["analysis_plan"]["tested_practices"] == ["discount_percent"]


def test_the_observational_practice_is_outside_holms_family() -> None:
    """The withheld practice's decision is the one it gets alone: the family has one member, not two."""
    with_observational = _primary(build_report(_inputs(), plan=PLAN), "discount_percent")["decision"]
    alone = _primary(build_report(_inputs(), plan=ALONE), "discount_percent")["decision"]
    assert with_observational["p_value_adjusted"] == pytest.approx(alone["p_value_adjusted"])
    assert with_observational["p_value_adjusted"] == pytest.approx(with_observational["p_value_sequential"])
    assert with_observational["power_at_plan"] == pytest.approx(alone["power_at_plan"])
    unsized = {"practices": ("credit", "discount_percent"), "withheld": ("discount_percent",)}
    assert (
        AnalysisPlan(**unsized).cases_per_practice
        == AnalysisPlan(practices=("discount_percent",), withheld=("discount_percent",)).cases_per_practice
    )  # planned for one test, not two


def test_the_default_plan_tests_only_the_two_discounts() -> None:
    assert AnalysisPlan().family == ("discount_fixed", "discount_percent")


def test_the_sentence_and_the_table_say_observational_only() -> None:
    report = build_report(_inputs(), plan=PLAN)
    sentence = next(e["sentence"] for e in report["summary"] if e["practice"] == "credit")
    assert sentence.startswith("A goodwill credit is observational only: it is not withheld in the control arm")
    assert "not its effect" in sentence and "55 in 100" in sentence
    assert report["summary"][-1]["practice"] == "credit"  # after the tested practice
    text = format_report(report)
    credit_lines = [line for line in text.splitlines() if line.startswith("credit ") and " 90d " in line]
    assert credit_lines and all(OBSERVATIONAL_VERDICT in line and " *" not in line for line in credit_lines)
    assert "tested (withheld in the control arm, the rest observational only) discount_percent" in text
