"""Stacks on one machine never collide on a port, and a process that dies at start says why in the error.

The launcher binds the workers' and the API's listening sockets itself, before anything starts, and hands them
down (src/billing/entrypoints/stack/ports.py); the embedded broker and PostgreSQL, which bind their own, start again elsewhere when the port
they were given was taken before they bound it."""

from __future__ import annotations

import asyncio
import errno
import json
import shutil
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from billing.entrypoints.stack import EmbeddedBroker, EmbeddedPostgres, PrerequisiteError
from billing.entrypoints.stack.launcher import Launcher
from billing.entrypoints.stack.ports import listen_on
from billing.entrypoints.stack.procs import pid_alive
from billing.platform.settings import Settings, load_settings
from tests.integration.helpers import unique

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_dir() -> Iterator[Path]:
    """Directly under /tmp: as root the PostgreSQL server runs as 'postgres', which cannot enter pytest's tmp tree."""
    path = Path(tempfile.mkdtemp(prefix="billing-clash-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _health(host: str, port: int) -> dict:
    with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=10) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def _start_both(launchers: list[Launcher]) -> list[BaseException]:
    errors: list[BaseException] = []

    def start(launcher: Launcher) -> None:
        try:
            launcher.start(workers=1, api=True)
        except BaseException as error:  # noqa: BLE001 - reported by the test, with the other stack's outcome
            errors.append(error)

    threads = [threading.Thread(target=start, args=(launcher,)) for launcher in launchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_two_stacks_started_at_once_both_come_up_on_ports_of_their_own() -> None:
    states = [Path(tempfile.mkdtemp(prefix="billing-twin-", dir="/tmp")) for _ in range(2)]
    launchers = [Launcher(load_settings(state_dir=state, app_id=unique("twin")), any_ports=True) for state in states]
    try:
        assert _start_both(launchers) == []
        first, second = (launcher.settings for launcher in launchers)
        ports = [first.worker_web_port, first.api_port, second.worker_web_port, second.api_port]
        assert len(set(ports)) == 4
        for settings in (first, second):
            assert _health(settings.worker_web_host, settings.worker_web_port)["checks"]["database"] is True
            assert _health(settings.api_host, settings.api_port) == {"status": "ok", "checks": {"database": True}}
        assert first.require_database_url() != second.require_database_url()

        # While a worker is down its port stays the stack's: nothing else can take it before the restart.
        launchers[0].stop_worker(0)
        with pytest.raises(OSError) as taken:
            listen_on(first.worker_web_host, first.worker_web_port).close()
        assert taken.value.errno == errno.EADDRINUSE
        launchers[0].restart_worker(0)
        assert _health(first.worker_web_host, first.worker_web_port)["status"] == "ok"
    finally:
        for launcher in launchers:
            launcher.stop()
        for state in states:
            shutil.rmtree(state, ignore_errors=True)


def test_a_worker_that_dies_at_start_puts_the_end_of_its_log_in_the_error(live: Settings) -> None:
    # The session stack's broker and PostgreSQL, used as configured servers; the worker's catalog does not exist,
    # which only the worker reads, so it is the worker that dies, once the launcher has done its part.
    state = Path(tempfile.mkdtemp(prefix="billing-dies-", dir="/tmp"))
    settings = load_settings(
        kafka_bootstrap_servers=live.require_bootstrap(),
        database_url=live.require_database_url(),
        state_dir=state,
        app_id=unique("dies"),
        catalog_path=state / "no-such-catalog.json",
    )
    launcher = Launcher(settings, any_ports=True)
    try:
        with pytest.raises(PrerequisiteError) as failed:
            launcher.start(workers=1)
    finally:
        launcher.stop()
        shutil.rmtree(state, ignore_errors=True)
    message = str(failed.value)
    # The sentence, then the log's last lines: the catalog error the worker logged before it exited.
    assert message.startswith("worker 0 exited with code ")
    assert "cannot read the catalog" in message and "no-such-catalog.json" in message
    assert failed.value.message.count("\n") == 0


# ---------------------------------------------------------------------------
# a port of our choosing, taken by another stack's server before ours binds it
# ---------------------------------------------------------------------------
def _first_pick(monkeypatch: pytest.MonkeyPatch, module, taken: int) -> None:
    """The service's first free_port() answer is a port another server already holds (what happens when two
    stacks start at once: both saw it free); later answers are the kernel's."""
    from billing.entrypoints.stack import procs

    answers = iter([taken])
    monkeypatch.setattr(module, "free_port", lambda host="127.0.0.1": next(answers, None) or procs.free_port(host))


async def _cluster_of(bootstrap: str) -> str:
    from aiokafka.client import AIOKafkaClient
    from aiokafka.protocol.metadata import MetadataRequest

    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        node = next(iter(client.cluster.brokers()))
        return (await client.send(node.nodeId, MetadataRequest([]))).cluster_id
    finally:
        await client.close()


def test_broker_whose_port_another_broker_took_starts_on_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import billing.entrypoints.stack.broker as broker_module

    with EmbeddedBroker(tmp_path / "other") as other:
        _first_pick(monkeypatch, broker_module, other.port)
        with EmbeddedBroker(tmp_path / "ours") as ours:
            # Before the fix the other broker's answer on that port was taken for ours (whose process had died
            # of the busy port) and ours "started" there.
            assert ours.port != other.port and pid_alive(ours.pid)
            assert asyncio.run(_cluster_of(ours.bootstrap)) == ours.cluster_id != other.cluster_id


def test_postgres_whose_port_another_cluster_took_starts_on_another(
    pg_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import billing.entrypoints.stack.postgres as postgres_module

    with EmbeddedPostgres(pg_dir / "other") as other:
        _first_pick(monkeypatch, postgres_module, other.port)
        with EmbeddedPostgres(pg_dir / "ours") as ours:
            # Before the fix ours died of the busy port and start() failed, or it set up its role and database
            # in the other cluster and returned that cluster's address.
            assert ours.port != other.port and pid_alive(ours.pid)
            assert asyncio.run(_data_directory(ours.dsn)) == str(pg_dir / "ours" / "pgdata")


async def _data_directory(dsn: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(dsn.replace("billing@", "postgres@", 1))
    try:
        return await conn.fetchval("SHOW data_directory")
    finally:
        await conn.close()
