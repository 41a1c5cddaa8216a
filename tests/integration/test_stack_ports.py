"""Stacks on one machine never collide on a port, and a process that dies at start says why in the error.

The launcher binds the workers' and the API's listening sockets itself, before anything starts, and hands them
down (ops/ports.py); the embedded broker and PostgreSQL start again elsewhere when their port was taken
(tests/integration/test_embedded_services.py)."""

from __future__ import annotations

import errno
import json
import shutil
import tempfile
import threading
import urllib.request
from pathlib import Path

import pytest

from ops.embedded import PrerequisiteError
from ops.launcher import Launcher
from ops.ports import listen_on
from streams.settings import Settings, load_settings
from tests.integration.helpers import unique

pytestmark = pytest.mark.integration


def _health(host: str, port: int) -> dict:
    with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=10) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def _start_both(launchers: list[Launcher]) -> list[BaseException]:
    errors: list[BaseException] = []

    def start(launcher: Launcher) -> None:
        try:
            launcher.start(workers=1, api=True)
        except BaseException as error:  # reported by the test, with the other stack's outcome
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
    settings = load_settings(kafka_bootstrap_servers=live.require_bootstrap(), database_url=live.require_database_url(),
                             state_dir=state, app_id=unique("dies"), catalog_path=state / "no-such-catalog.json")  # fmt: skip
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
