"""Issue 14 point 3: the terminal and HTML reports name their experiment period and list the other periods, each
with its own plan version, holdout share and sentences (never summed); `billing report retention --period`."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing.entrypoints.cli.main import main
from billing.retention import queries
from billing.retention.report_html import render_html
from billing.retention.report_text import format_report
from billing.retention.rules.arms import Arm
from billing.retention.rules.counters import CounterKey, RetentionCounters, Tally
from billing.retention.rules.plan import AnalysisPlan, period_id
from billing.retention.rules.report import ReportInputs, build_report

FIRST = AnalysisPlan(version="plan-a", withheld=("discount_percent",), holdout_share=0.1, planned_cases=400)
SECOND = AnalysisPlan(version="plan-b", withheld=("discount_percent",), holdout_share=0.5, planned_cases=400)


def _period_report(plan: AnalysisPlan, treated: tuple[int, int], control: tuple[int, int], start: str) -> dict:
    counters = {
        CounterKey("discount_percent", Arm.TREATMENT, 90, 10): Tally(*treated),
        CounterKey("discount_percent", Arm.CONTROL, 90, 10): Tally(*control),
    }
    report = build_report(ReportInputs(RetentionCounters(counters)), plan=plan)
    share_bp = round(plan.holdout_share * 10_000)
    report["period"] = {
        "period": period_id(plan, share_bp),
        "plan_version": plan.version,
        "plan_key": plan.key,
        "holdout_share": plan.holdout_share,
        "started_at": start,
    }
    return report


def _two_periods() -> dict:
    """As queries.report_on assembles it: the latest period's report, every period's under ``periods``."""
    first = _period_report(FIRST, (90, 72), (10, 5), "2026-01-01T00:00:00+00:00")
    second = _period_report(SECOND, (40, 30), (40, 20), "2026-03-01T00:00:00+00:00")
    return dict(second) | {"periods": [first, second]}


def test_the_text_report_lists_the_other_period_with_its_own_plan_and_share() -> None:
    report = _two_periods()
    text = format_report(report)
    first, second = (r["period"] for r in report["periods"])
    assert f"Experiment period {second['period']}: plan plan-b, holdout 50.0 %, from 2026-03-01" in text
    assert "Other periods (each judged by its own plan and holdout share; never added to this one):" in text
    assert f"  {first['period']}: plan plan-a, holdout 10.0 %, from 2026-01-01" in text
    # The other period's own sentence: its 10 control cases alone, too few (never 50 = 10 + 40 summed).
    too_few = "too few cases to say anything yet (10 in the smaller arm, 30 needed)"
    assert any(too_few in line for line in text.splitlines() if line.startswith("    "))
    assert text.count(f"{second['period']}:") == 1  # this period is not listed again among the others


def test_a_report_of_one_period_lists_no_others() -> None:
    text = format_report(_period_report(FIRST, (90, 72), (10, 5), "2026-01-01T00:00:00+00:00"))
    assert "Experiment period" in text and "Other periods" not in text


def test_the_html_report_lists_the_periods_too() -> None:
    report = _two_periods()
    page = render_html(report)
    first = report["periods"][0]["period"]["period"]
    assert "<h2>Experiment periods</h2>" in page
    assert f"{first}: plan plan-a, holdout 10.0 %" in page


def test_the_cli_reports_the_period_asked_for(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    asked: list[object] = []

    async def fake_report(db: object, cohort: object = None, period: str | None = None) -> dict:
        asked.append(period)
        return json.loads(json.dumps(_two_periods()))

    class Pool:
        async def close(self) -> None:
            return None

    async def create_pool(*args: object, **kwargs: object) -> Pool:
        return Pool()

    monkeypatch.setattr(queries, "retention_report", fake_report)
    monkeypatch.setattr("asyncpg.create_pool", create_pool)
    env = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    runner = CliRunner()
    chosen = runner.invoke(main, ["report", "retention", "--json", "--period", "plan-a#x@1000bp"], env=env)
    assert chosen.exit_code == 0, chosen.output
    latest = runner.invoke(main, ["report", "retention", "--json"], env=env)
    assert latest.exit_code == 0, latest.output
    assert asked == ["plan-a#x@1000bp", None]


def test_an_unknown_period_is_one_sentence_naming_the_known_ones() -> None:
    none = queries.UnknownPeriod("x", [])
    assert str(none) == (
        "there is no experiment period 'x': none is known yet (a worker registers one when it routes the first"
        " customer contact)."
    )
    assert (
        str(queries.UnknownPeriod("x", ["a@1000bp"]))
        == "there is no experiment period 'x': the known period is 'a@1000bp'."
    )
    assert str(queries.UnknownPeriod("x", ["a@1000bp", "b@5000bp", ""])) == (
        "there is no experiment period 'x': the known periods are 'a@1000bp', 'b@5000bp' and '' (cases recorded"
        " before periods were registered)."
    )
