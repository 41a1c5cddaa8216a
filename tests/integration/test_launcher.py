"""`billing up` as a person runs it: it starts everything, Ctrl-C stops everything, and a missing
prerequisite ends with one sentence and exit code 2, leaving nothing running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import psutil
import pytest

from billing.entrypoints.stack import free_port
from billing.entrypoints.stack.launcher import Launcher
from billing.platform.settings import load_settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _billing(args: list[str], state: Path, **env: str) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    clean.update(STATE_DIR=str(state), **env)
    return subprocess.Popen(
        [sys.executable, "-m", "billing.entrypoints.cli.main", *args],
        cwd=ROOT,
        env=clean,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_if_started_in_the_background,
    )


def _as_if_started_in_the_background() -> None:
    # A non-interactive shell starts background jobs with SIGINT ignored (a CI step, `nohup billing up &`);
    # Python then installs no KeyboardInterrupt handler, and Ctrl-C once did nothing at all.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _descendants_listening(pids: set[int]) -> list[tuple[int, int]]:
    found = []
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.pid in pids:
            found.append((conn.pid, conn.laddr.port))
    return found


def _children(pid: int) -> set[int]:
    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def _read_until(proc: subprocess.Popen, marker: str, timeout_s: float) -> list[str]:
    """Lines of stderr up to and including the one with `marker` (read on a thread: pipes do not time out)."""
    lines: list[str] = []
    found = threading.Event()

    def reader() -> None:
        for line in proc.stderr:
            lines.append(line)
            if marker in line:
                found.set()
                return

    threading.Thread(target=reader, daemon=True).start()
    assert found.wait(timeout_s), f"no {marker!r} within {timeout_s} s: {''.join(lines)}"
    return lines


def test_up_then_ctrl_c_leaves_nothing_running() -> None:
    state = Path(tempfile.mkdtemp(prefix="billing-up-", dir="/tmp"))
    proc = _billing(["up", "--workers", "1"], state, WORKER_WEB_PORT="0", API_PORT=str(free_port()))
    startup = _read_until(proc, "press Ctrl-C to stop", timeout_s=90)
    started = _children(proc.pid)
    assert len(started) >= 3, "broker, PostgreSQL and a worker are running"
    assert _descendants_listening(started)
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=90)
    err = "".join(startup) + rest
    assert proc.returncode == 0
    assert "Traceback" not in err and "stopping" in err
    alive = [pid for pid in started if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"left running: {alive}"


def test_port_in_use_is_one_sentence_and_cleans_up() -> None:
    state = Path(tempfile.mkdtemp(prefix="billing-busy-", dir="/tmp"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _billing(["up"], state, WORKER_WEB_PORT=str(port))
        _, err = proc.communicate(timeout=90)
    assert proc.returncode == 2
    assert f"error: port {port} for worker 0 is in use" in err
    assert "Traceback" not in err
    assert not any(
        "tansu" in " ".join(p.info["cmdline"] or []) and str(state) in " ".join(p.info["cmdline"] or [])
        for p in psutil.process_iter(["cmdline"])
    )
    pg_pid = state / "postgres" / "pgdata" / "postmaster.pid"
    assert not pg_pid.exists(), "PostgreSQL was stopped"


def test_configured_servers_are_used_and_nothing_is_started(live) -> None:
    settings = load_settings(
        kafka_bootstrap_servers=live.require_bootstrap(),
        database_url=live.require_database_url(),
        state_dir=Path(tempfile.mkdtemp(prefix="billing-ext-", dir="/tmp")),
    )
    launcher = Launcher(settings)
    resolved = launcher.start_services()
    assert launcher.broker is None and launcher.postgres is None
    assert resolved.require_bootstrap() == live.require_bootstrap()
    assert resolved.idempotent_producer is True  # an external broker is assumed to be Apache Kafka
    launcher.stop()
