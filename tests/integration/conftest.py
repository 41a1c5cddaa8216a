"""One real stack per test session: the embedded Tansu broker (or KAFKA_BOOTSTRAP_SERVERS), PostgreSQL (or
DATABASE_URL) and two worker processes in one consumer group, started by the same Launcher as `billing up`."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from billing.entrypoints.api.app import create_app
from billing.entrypoints.stack.launcher import Launcher
from billing.platform.context import create_pool
from billing.platform.settings import Settings, load_settings

WORKERS = 2


@contextlib.contextmanager
def own_stack(prefix: str, api: bool = False, **overrides) -> Iterator[Launcher]:
    """A private stack (broker, PostgreSQL, two workers; `api`: the agent API process too) for a module whose
    outcome must not depend on what the session's other tests publish, e.g. usage stamped "now" moving the
    workers' event-time clock, or tasks left waiting in a queue the module's agents serve."""
    path = Path(tempfile.mkdtemp(prefix=f"billing-{prefix}-", dir="/tmp"))
    settings = load_settings(
        state_dir=path,
        broker_session_timeout_s=4.0,
        usage_batch_wait_ms=50,
        outbox_poll_ms=50,
        late_usage_limit_days=36500,
        **overrides,
    )
    launcher = Launcher(settings, any_ports=True)  # bound by the launcher, so two stacks never collide
    try:
        launcher.start(workers=WORKERS, api=api)
        yield launcher
    finally:
        launcher.stop()
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def state_dir() -> Iterator[Path]:
    # Directly under /tmp: pytest's own tmp tree is mode 0700 and the postgres user could not enter it.
    path = Path(tempfile.mkdtemp(prefix="billing-test-", dir="/tmp"))
    yield path
    if not os.environ.get("BILLING_KEEP_TEST_STATE"):  # set it to read the workers' logs after a failure
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(state_dir: Path) -> Iterator[Launcher]:
    settings = load_settings(
        state_dir=state_dir,
        broker_session_timeout_s=4.0,
        usage_batch_wait_ms=50,
        outbox_poll_ms=50,
        # Scenarios use fixed 2026 dates with hand-computed amounts; a long late limit keeps them billable in
        # any year. The late-limit rule itself is tested in tests/unit/test_usage_rating.py.
        late_usage_limit_days=36500,
        # Long enough that usage racing its account's opening on a loaded machine is parked, not dead-lettered
        # (the openings go through a Faust agent, the usage through the batch path); short enough for the
        # park-limit test to see it expire.
        usage_park_limit_s=60,
    )
    launcher = Launcher(settings, any_ports=True)  # bound by the launcher, so two stacks never collide
    launcher.start(workers=WORKERS, api=True)  # the agent API process beside the workers, as `billing up` runs it
    yield launcher
    launcher.stop()


@pytest.fixture(scope="session")
def live(stack: Launcher) -> Settings:
    return stack.settings


@pytest.fixture(scope="session")
def dated_stack() -> Iterator[Launcher]:
    """A stack for scenarios with fixed dates that close their cycles themselves: its workers run no closer, so
    no usage stamped "now" (published by other tests on the session stack) can close a cycle before the
    scenario's late usage arrives, whatever today's date is."""
    with own_stack("dated", closer_enabled=False) as launcher:
        yield launcher


class Clock:
    """The API's clock, moved by the lockout test; starts at the real time so the stack's tasks line up."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture(scope="module")
async def agent_api(live):
    """The agent API app in this process, on the session stack, with a clock a test may move."""
    clock = Clock()
    app = create_app(live, clock)
    pool = await create_pool(live)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    yield {"client": client, "pool": pool, "clock": clock, "live": live}
    await client.aclose()
    await app.state.services.close()
    await pool.close()


@pytest.fixture(scope="module")
async def agent_api_over_http(live):
    """The API process the launcher started, over real HTTP."""
    pool = await create_pool(live)
    async with httpx.AsyncClient(base_url=f"http://{live.api_host}:{live.api_port}", timeout=30) as client:
        yield {"client": client, "pool": pool, "live": live}
    await pool.close()
