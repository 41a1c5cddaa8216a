"""The embedded broker restarts empty (it keeps topics in memory): nothing issued meanwhile is marked published
unless it is on its topic, the loss of what was published before is detected and said (/health degraded, a
broker_data_losses row), and `billing outbox replay` puts everything back.

Before the fix, every invoice issued while the broker was down was acknowledged by the restarted broker (which
takes records for a topic it does not have and keeps them nowhere a consumer reads), marked published, and was
never on the topic. Runs on its own stack: restarting the session's broker would disturb every other test.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest
from click.testing import CliRunner

from billing.entrypoints.cli.main import main
from billing.entrypoints.stack import EmbeddedBroker
from billing.entrypoints.stack.launcher import Launcher
from billing.platform.topics import INVOICES_ISSUED
from tests.integration.conftest import own_stack
from tests.integration.helpers import eventually, fetch, fetchval, unique
from tests.integration.invoicing_helpers import close_for, find_on_topic, opened, publish_and_wait

pytestmark = pytest.mark.integration
OCT_1 = datetime(2026, 10, 1, tzinfo=UTC)
NOV_2 = datetime(2026, 11, 2, tzinfo=UTC)  # October's cycles (anchor day 1) are due: ended, grace over
TOPIC = INVOICES_ISSUED.name


@pytest.fixture(scope="module")
def drill() -> Iterator[Launcher]:
    with own_stack("restart", closer_enabled=False) as launcher:
        yield launcher


def _restart_broker(launcher: Launcher) -> None:
    """A new embedded broker on the same port: empty, as after a crash or a `billing up` restart of it."""
    port = launcher.broker.port
    launcher.broker.stop()
    launcher.broker = EmbeddedBroker(log_dir=launcher.logs_dir(), port=port)
    launcher.broker.start()


def _health(launcher: Launcher) -> dict:
    url = f"http://127.0.0.1:{launcher.settings.worker_web_port}/health"
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - our own loopback endpoint
        return orjson.loads(answer.read())


async def _invoice_events(dsn: str, accounts: list[str]) -> set[str]:
    rows = await fetch(dsn, "SELECT invoice_id FROM invoices WHERE account_id = ANY($1)", accounts)
    assert len(rows) == len(accounts)
    return {f"invoice-issued:{r['invoice_id']}" for r in rows}


async def test_invoices_issued_while_the_broker_was_down_are_on_the_topic_and_the_loss_is_replayed(drill) -> None:
    live, dsn = drill.settings, drill.settings.require_database_url()
    started = datetime.now(UTC)
    before, during = [unique("pre") for _ in range(4)], [unique("down") for _ in range(4)]
    await publish_and_wait(live, [opened(a, "mobile-s", "EUR", "DE", OCT_1) for a in before + during], [])
    await close_for(live, before, NOV_2)
    published_before = await _invoice_events(dsn, before)
    await find_on_topic(live, TOPIC, published_before)

    drill.broker.stop()
    await close_for(live, during, NOV_2)  # invoices issued while the broker is down
    issued_during = await _invoice_events(dsn, during)
    _restart_broker(drill)

    # Marked published only once on the topic: find_on_topic waits for the mark, then reads the topic.
    await find_on_topic(live, TOPIC, issued_during, timeout_s=60)
    losses = await eventually(
        lambda: fetch(
            dsn, "SELECT what, lost_since FROM broker_data_losses WHERE topic = $1 AND resolved_at IS NULL", TOPIC
        ),
        lambda rows: len(rows) == 1,
        timeout_s=90,
    )
    assert started <= losses[0]["lost_since"]
    health = _health(drill)
    assert health["status"] == "degraded" and health["checks"]["broker_data"] is False
    assert f"--topic {TOPIC}" in health["broker_data_lost"][0]["action"]
    # An outage is not the rows' fault: none was parked.
    assert await fetchval(dsn, "SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL") == 0

    # The command runs its own event loop, as it does for a person: here in a thread beside the test's loop.
    args = ["outbox", "replay", "--since", started.isoformat(), "--topic", TOPIC]
    replay = await asyncio.to_thread(CliRunner().invoke, main, args, env={"DATABASE_URL": dsn})
    assert replay.exit_code == 0, replay.output
    assert "broker data loss(es) covered" in replay.output and "done:" in replay.output
    await find_on_topic(live, TOPIC, published_before | issued_during)
    assert _health(drill)["status"] == "ok"


def test_replay_refuses_bad_input_in_one_sentence(drill) -> None:
    env = {"DATABASE_URL": drill.settings.require_database_url()}
    for args, said in (
        (["--since", "last tuesday"], "is not a date or time"),
        (["--since", "2999-01-01"], "is in the future"),
        (["--since", "2026-01-01", "--topic", "billing.nope"], "unknown topic"),
    ):
        result = CliRunner().invoke(main, ["outbox", "replay", *args], env=env)
        assert result.exit_code == 2 and said in result.output and "Traceback" not in result.output
