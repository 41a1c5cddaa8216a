"""An experiment period that does not exist is refused, never reported as an empty report: `billing report
retention --period` run as a person runs it (the installed command, in a process of its own) ends in one sentence
naming the known periods and exit code 2, and the worker's `GET /reports/retention?period=` answers 404 with the
same sentence. The periods are the ones the system registered itself, when a worker routed a customer's call."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from billing.entrypoints.stack.loadgen import publish, record_of
from billing.platform.context import create_pool
from billing.platform.settings import Settings
from billing.retention.plan_config import load_experiment
from tests.integration.agent_api_helpers import call_started, customer
from tests.integration.helpers import eventually, unique

pytestmark = pytest.mark.integration
BILLING = str(Path(sys.executable).with_name("billing"))


@pytest.fixture(scope="module")
async def known_periods(live: Settings) -> list[str]:
    """A call routed by a worker (which registers the current period), then every period PostgreSQL knows."""
    account, invoice_id, call_id = unique("acc-period"), unique("inv"), unique("call")
    now = datetime.now(UTC)
    pool = await create_pool(live)
    try:
        await publish(live.require_bootstrap(), [record_of(e) for e in customer(account, invoice_id, now)])
        await eventually(lambda: pool.fetchval("SELECT count(*) FROM accounts WHERE account_id = $1", account), bool)
        await publish(live.require_bootstrap(), [record_of(call_started(account, call_id, invoice_id, now))])
        routed = await eventually(lambda: pool.fetchval("SELECT period FROM tasks WHERE call_id = $1", call_id), bool)
        assert routed == load_experiment(live).period
        rows = await pool.fetch(
            "SELECT period FROM retention_periods UNION SELECT period FROM retention_cases ORDER BY 1"
        )
        return [r["period"] for r in rows]
    finally:
        await pool.close()


def report(live: Settings, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    return subprocess.run(
        [BILLING, "report", "retention", *args],
        env={**env, "DATABASE_URL": live.require_database_url()},
        capture_output=True,
        text=True,
        timeout=120,
    )


def refusal_line(result: subprocess.CompletedProcess) -> str:
    """The one error line, after checking it is the only complaint, the exit code and that nothing was dumped."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""  # no report at all, not even an empty one
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and result.stderr.rstrip().endswith(errors[0]), result.stderr
    return errors[0]


def test_an_unknown_period_is_refused_naming_the_known_ones(live: Settings, known_periods: list[str]) -> None:
    current = load_experiment(live)
    assert current.period in known_periods
    # Nonsense, and an id of the right shape that was never used (the current plan at a share nobody ran).
    for asked in ("nonsense", current.period.replace(f"@{current.holdout_share_bp}bp", "@9999bp")):
        line = refusal_line(report(live, "--period", asked, "--json"))
        known = "period is" if len(known_periods) == 1 else "periods are"
        assert line.startswith(f"error: there is no experiment period '{asked}': the known {known} ")
        for period in known_periods:
            assert f"'{period}'" in line
        assert line.endswith(".")


def test_a_known_period_is_reported(live: Settings, known_periods: list[str]) -> None:
    period = load_experiment(live).period
    result = report(live, "--period", period, "--json")
    assert result.returncode == 0, result.stderr
    assert f'"period": "{period}"' in result.stdout


async def test_the_workers_report_answers_404_with_the_same_sentence(live: Settings, known_periods: list[str]) -> None:
    said = refusal_line(report(live, "--period", "nonsense")).removeprefix("error: ")
    async with httpx.AsyncClient() as client:
        for index in range(2):  # either worker answers the same
            url = f"http://127.0.0.1:{live.worker_web_port + index}/reports/retention"
            answer = await client.get(url, params={"period": "nonsense"})
            assert answer.status_code == 404
            assert answer.json() == {"error": "unknown_period", "detail": said}
