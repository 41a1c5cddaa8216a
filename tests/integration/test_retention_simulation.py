"""The simulator through the whole system (real broker, PostgreSQL, two workers): the report recovers the
known effect of every practice, finds no uplift where there is none, ranks the practices, counts every case
exactly once despite duplicates, and renders as HTML whose plots are visible in headless Chromium.

The session's database also holds the cases other tests completed (the agent API, discounts); the simulation
runs in its own era of event time (2031, later than theirs) and every assertion is on its cohort: the report
restricted to the cases handled in ``sim.case_period()``."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
from click.testing import CliRunner
from matplotlib import image

from billing.entrypoints.cli.main import main
from billing.entrypoints.stack.retention_simulation import (
    TRUE_EFFECTS,
    SimulationConfig,
    feed,
    register,
    simulate,
    wait_until_followed,
)
from billing.platform.settings import Settings
from billing.retention.plan_config import load_plan
from billing.retention.queries import Cohort, retention_report
from billing.retention.report_html import render_html

pytestmark = pytest.mark.integration

# 4,000 customers, half of the eligible ones in the control arm (for power): about 400 cases per practice
# and arm, so an uplift's 95 % interval is about +-6.5 points while the true effects are 12 or more points
# apart (a misranking needs a 2.6-sigma error); the seed is fixed, so the run is reproducible.
CONFIG = dict(accounts=4000, seed=2026, holdout_share_bp=5000)
# The simulation's pre-registered plan, sized for its population (about 800 compared cases per practice, both
# arms), given as RETENTION_PLAN gives the system its plan: the default plan is sized for a 10 % holdout and a
# 5-point effect (11,936 cases per practice), against which these cases are "not yet decidable". The simulation
# withholds every practice from its control arm (no practice, no money there), so its plan withholds all four:
# only withheld practices are randomised, and only they are tested and ranked.
SIMULATION_PLAN = """
version: simulation-2026
primary_horizon_days: 90
practices: [credit, discount_fixed, discount_percent, plan_change]
withheld: [credit, discount_fixed, discount_percent, plan_change]
alpha: 0.05
correction: holm
min_arm_size: 30
planned_cases: 800
"""


@pytest.fixture(scope="module")
async def simulated(live: Settings, tmp_path_factory) -> dict:
    plan_file = tmp_path_factory.mktemp("plan") / "simulation-plan.yaml"
    plan_file.write_text(SIMULATION_PLAN, encoding="utf-8")
    share = CONFIG["holdout_share_bp"] / 10_000
    plan = load_plan(live.model_copy(update={"retention_plan": plan_file, "retention_holdout_share": share}))
    sim = simulate(SimulationConfig(**CONFIG, partitions=live.workflow_partitions, plan=plan))
    started = time.monotonic()
    pool = await asyncpg.create_pool(live.require_database_url(), min_size=1, max_size=2)
    try:
        await register(pool, sim)  # the plan and its period, before the cases
        await feed(live.require_bootstrap(), sim)
        print(f"published {len(sim.events)} events in {time.monotonic() - started:.1f} s")
        figures = await wait_until_followed(pool, sim, timeout_s=240)
        print(f"all {sim.cases} cases followed after {time.monotonic() - started:.1f} s")
        cohort = Cohort(*sim.case_period())
        report = await retention_report(pool, cohort)
        everything = await retention_report(pool)  # every case in the database, from the counters
    finally:
        await pool.close()
    return {"sim": sim, "figures": figures, "report": report, "cohort": cohort, "everything": everything}


def _at_90_days(report: dict) -> dict[str, dict]:
    return {row["practice"]: row for row in report["practices"] if row["horizon_days"] == 90}


async def test_every_case_is_followed_and_counted_exactly_once(simulated) -> None:
    sim, report = simulated["sim"], simulated["report"]
    assert simulated["figures"] == {"cases": sim.cases, "finished": sim.cases}
    # Judged by the plan it registered, in its own period (never summed with other periods' cases).
    assert report["analysis_plan"]["version"] == "simulation-2026"
    assert report["period"]["period"] == sim.experiment.period and "periods" not in report
    rows = _at_90_days(report)
    for practice, arms in sim.compared_cases.items():
        # Duplicated cases and closures were published (5 %): the counts still equal the distinct cases.
        assert rows[practice]["treatment"]["cases"] == arms["treatment"]
        assert rows[practice]["control"]["cases"] == arms["control"]
    for horizon in (30, 60):
        younger = {r["practice"]: r for r in report["practices"] if r["horizon_days"] == horizon}
        assert {p: r["control"]["cases"] for p, r in younger.items()} == {
            p: arms["control"] for p, arms in sim.compared_cases.items()
        }


async def test_report_recovers_each_true_effect_and_ranks_the_practices(simulated) -> None:
    rows = _at_90_days(simulated["report"])
    for practice, effect in TRUE_EFFECTS.items():
        uplift = rows[practice]["uplift"]
        assert uplift["ci_low"] <= effect <= uplift["ci_high"], (practice, effect, uplift)
    assert rows["discount_fixed"]["significant"] is False  # the practice that does nothing
    assert rows["discount_percent"]["significant"] and rows["plan_change"]["significant"]
    assert rows["plan_change"]["uplift"]["ci_high"] < 0  # the practice that hurts is shown to hurt
    # Every simulated case follows its arm: no non-compliance, and none invented for the plan change, whose
    # receipt (no discount money) is not measured.
    assert simulated["report"]["non_compliance"]["rate"] == 0
    assert rows["plan_change"]["compliance"] is None and rows["credit"]["compliance"] is not None
    ranking = [r["practice"] for r in simulated["report"]["ranking"]]
    assert ranking == sorted(TRUE_EFFECTS, key=TRUE_EFFECTS.get, reverse=True)
    # Cost per retained customer exists where the practice retained extra customers, and not where it hurt.
    assert rows["discount_percent"]["cost_per_retained_minor"]["EUR"] is not None
    assert rows["plan_change"]["cost_per_retained_minor"] == {"EUR": None}  # no extra customer: no finite cost


async def test_every_worker_serves_the_same_report_as_json(simulated, live: Settings) -> None:
    live_counts = []
    cohort = simulated["cohort"].as_json()
    async with httpx.AsyncClient() as client:
        for index in range(2):  # two workers: WORKER_WEB_PORT and the next port
            url = f"http://127.0.0.1:{live.worker_web_port + index}/reports/retention"
            response = await client.get(url, params=cohort)
            assert response.status_code == 200
            served = response.json()
            assert served["cohort"] == cohort
            assert served["ranking"] == json.loads(json.dumps(simulated["report"]["ranking"]))
            assert served["practices"] == json.loads(json.dumps(simulated["report"]["practices"]))
            period = simulated["report"]["period"]["period"]  # the simulation's own period, asked for by name
            chosen = (await client.get(url, params={**cohort, "period": period})).json()
            assert chosen["period"]["period"] == period and chosen["practices"] == served["practices"]
            whole = (await client.get(url)).json()  # no cohort: every case, from the counters
            assert whole["cohort"] is None
            assert whole["practices"] == json.loads(json.dumps(simulated["everything"]["practices"]))
            live_counts.append(whole["live_counts"])
        refused = await client.get(
            f"http://127.0.0.1:{live.worker_web_port}/reports/retention", params={"cases_from": "last tuesday"}
        )
        assert refused.status_code == 400 and "cases_from must be an ISO date" in refused.json()["detail"]
    # The Faust table cache (every case), summed over both workers' partitions, agrees with PostgreSQL's counters
    # at 90 days (it may only lag after a crash between commit and cache update, which this test does not cause).
    cached = {}
    for worker in live_counts:
        for practice, arms in worker.items():
            for arm, horizons in arms.items():
                cases, kept = horizons.get("90", [0, 0])
                before = cached.get((practice, arm), (0, 0))
                cached[(practice, arm)] = (before[0] + cases, before[1] + kept)
    # The cache is not split by period; the counters are, and no report sums periods: add them up here.
    exact: dict = {}
    for period in simulated["everything"].get("periods", [simulated["everything"]]):
        for practice, row in _at_90_days(period).items():
            for arm in ("treatment", "control"):
                before = exact.get((practice, arm), (0, 0))
                exact[(practice, arm)] = (before[0] + row[arm]["cases"], before[1] + row[arm]["retained"])
    for practice, arms in simulated["sim"].compared_cases.items():
        for arm in arms:
            assert cached[(practice, arm)] == exact[(practice, arm)]
    rows = _at_90_days(simulated["everything"])
    # The cohort is a part of the whole: never more cases than the counters hold.
    for practice, row in _at_90_days(simulated["report"]).items():
        assert row["control"]["cases"] <= rows[practice]["control"]["cases"]


async def test_longer_waits_retain_fewer_customers(simulated) -> None:
    bands = [b for b in simulated["report"]["wait_bands"] if b["cases"]]
    assert bands[0]["rate"] > bands[-1]["rate"]  # the simulated penalty is up to 15 points
    compared = sum(sum(arms.values()) for arms in simulated["sim"].compared_cases.values())
    assert sum(b["cases"] for b in bands) == compared  # both arms of every practice; not-eligible cases aside
    service = simulated["report"]["service"]
    assert service and all(0 <= w["service_level"] <= 1 for w in service if w["service_level"] is not None)


def test_the_terminal_report_and_the_html_file_from_the_command(simulated, live: Settings, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    cohort = simulated["cohort"].as_json()
    result = CliRunner().invoke(
        main,
        [
            "report",
            "retention",
            "--html",
            str(page),
            "--cases-from",
            cohort["cases_from"],
            "--cases-to",
            cohort["cases_to"],
            "--period",
            simulated["report"]["period"]["period"],
        ],
        env={"DATABASE_URL": live.require_database_url()},
    )
    assert result.exit_code == 0, result.output
    ranking = " > ".join(sorted(TRUE_EFFECTS, key=TRUE_EFFECTS.get, reverse=True))
    assert f"Ranking by uplift at 90 days: {ranking}" in result.output
    assert f"Cohort: the cases handled from {cohort['cases_from']} to before {cohort['cases_to']}" in result.output
    assert page.read_text().count("data:image/png;base64,") == 4


async def test_html_report_renders_with_visible_plots_in_headless_chromium(simulated, tmp_path: Path) -> None:
    page = tmp_path / "retention.html"
    page.write_text(render_html(simulated["report"]), encoding="utf-8")
    shot = tmp_path / "retention.png"
    subprocess.run(  # noqa: ASYNC221 - the test waits for the screenshot anyway
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            "--window-size=1100,2400",
            page.as_uri(),
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    pixels = image.imread(shot)[:, :, :3]  # floats in 0..1
    white = (pixels > 0.98).all(axis=2)
    plot_rows = white.mean(axis=1) > 0.4  # the page is beige: mostly-white rows are plot images
    assert plot_rows.sum() > 1200, "the four plots (about 1,700 px tall together) are not on the page"
    in_plots = pixels[plot_rows]
    colourful = (in_plots.max(axis=2) - in_plots.min(axis=2)) > 0.25  # curves, bands, bars, markers
    assert colourful.mean() > 0.01, "plot areas are blank"
    build = Path(__file__).resolve().parents[2] / "build"  # noqa: ASYNC240
    build.mkdir(exist_ok=True)
    shutil.copy(shot, build / "retention-report.png")  # the README's screenshot


async def test_the_case_rows_and_the_counters_tell_the_same_story(simulated, live: Settings) -> None:
    # An unbounded cohort is computed from retention_cases/retention_outcomes, the plain report from the counters
    # written in the same transactions: the two must agree on every retention figure (the weekly call figures
    # come from the calls projection, which may still be taking the last simulated calls in).
    pool = await asyncpg.create_pool(live.require_database_url(), min_size=1, max_size=1)
    try:
        from_cases = await retention_report(pool, Cohort())
        from_counters = await retention_report(pool)
    finally:
        await pool.close()
    for part in ("practices", "ranking", "survival", "wait_bands"):
        assert from_cases[part] == from_counters[part], part
