"""What a person can get wrong ends in one sentence saying what to do and exit code 2, never a traceback: the
installed `billing` command, run as a person runs it, with each mistake once. None of these needs the stack."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
BILLING = str(Path(sys.executable).with_name("billing"))


@pytest.fixture
def state() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="billing-cli-", dir="/tmp"))
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: connections to it are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def billing(*args: str, state: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "WORKERS")}
    return subprocess.run(
        [BILLING, *args],
        env={**clean, "STATE_DIR": str(state), **env},
        cwd=state,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_sentence(result: subprocess.CompletedProcess) -> str:
    """The error line, after checking it is the only complaint and nothing was dumped."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and result.stderr.rstrip().endswith(errors[0]), result.stderr
    return errors[0]


def test_an_unreachable_database(state: Path, closed_port: int) -> None:
    dsn = f"postgresql://b@127.0.0.1:{closed_port}/b"
    line = one_sentence(billing("invoices", "held", state=state, DATABASE_URL=dsn))
    assert f"the database at 127.0.0.1:{closed_port} does not answer (connection refused)" in line


def test_a_database_host_that_does_not_exist(state: Path) -> None:
    line = one_sentence(billing("migrate", state=state, DATABASE_URL="postgresql://b@no-such-host.invalid/b"))
    assert "no-such-host.invalid:5432 does not answer (host name not found" in line


def test_a_malformed_dsn_names_the_variable_and_never_its_password(state: Path) -> None:
    line = one_sentence(billing("migrate", state=state, DATABASE_URL="mysql://billing:s3cret@db/billing"))
    assert "invalid setting DATABASE_URL (not a PostgreSQL URL" in line and "s3cret" not in line
    line = one_sentence(billing("migrate", state=state, DATABASE_URL="postgresql://b@db:no-port/b"))
    assert "DATABASE_URL" in line


def test_an_unreachable_kafka(state: Path, closed_port: int) -> None:
    line = one_sentence(billing("topics", state=state, KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{closed_port}"))
    assert f"no Kafka broker answers at 127.0.0.1:{closed_port}" in line


def test_up_with_an_unreachable_kafka_starts_nothing(state: Path, closed_port: int) -> None:
    line = one_sentence(
        billing(
            "up", state=state, KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{closed_port}", WORKER_WEB_PORT="0", API_PORT="0"
        )
    )
    assert "no Kafka broker answers" in line
    assert not (state / "postgres").exists(), "PostgreSQL was started for a stack that cannot run"


def test_invalid_settings_say_which_and_why(state: Path) -> None:
    line = one_sentence(billing("up", state=state, WORKERS="two", USAGE_PARTITIONS="0"))
    assert "WORKERS='two' (Input should be a valid integer" in line
    assert "USAGE_PARTITIONS='0' (Input should be greater than or equal to 1)" in line


def test_a_state_dir_that_cannot_be_written(state: Path) -> None:
    not_a_directory = state / "a-file"
    not_a_directory.write_text("")
    line = one_sentence(billing("up", state=state, STATE_DIR=str(not_a_directory / "state")))
    assert f"STATE_DIR {not_a_directory / 'state'} is not a directory this process can write to" in line


@pytest.mark.parametrize("option", [["--accounts", "0"], ["--usage", "-5"], ["--workers", "99"]])
def test_out_of_range_options(state: Path, option: list[str]) -> None:
    line = one_sentence(billing("demo", *option, state=state))
    assert f"Invalid value for '{option[0]}'" in line and "`billing demo --help`" in line
    assert not (state / "demo").exists(), "the demo started a stack first"


def test_up_checks_every_port_before_starting_anything(state: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = one_sentence(billing("up", state=state, WORKER_WEB_PORT="0", API_PORT=str(port)))
    assert f"port {port} for the agent API is in use" in line
    assert not (state / "logs" / "broker.log").exists() and not (state / "postgres").exists()


def test_a_worker_on_a_busy_port(state: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = one_sentence(
            billing(
                "worker",
                state=state,
                WORKER_WEB_PORT=str(port),
                KAFKA_BOOTSTRAP_SERVERS="k:9092",
                DATABASE_URL="postgresql://b@db/b",
            )
        )
    assert f"worker 0 cannot listen on 127.0.0.1:{port} (address already in use)" in line
