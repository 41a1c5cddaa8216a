"""`billing up`: start what the environment does not point at, and stop exactly what was started.

With KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL set it starts no server and only checks that they answer;
without them it starts the embedded Tansu broker and a private PostgreSQL cluster. Then it applies the
migrations, creates the topics and starts the worker processes. Everything it started is stopped by pid,
in reverse order, on exit, Ctrl-C or SIGTERM. The test fixtures use this same class.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from billing.entrypoints.stack import EmbeddedBroker, EmbeddedPostgres, PrerequisiteError, stop_process
from billing.entrypoints.stack.ports import Listeners, listen_on
from billing.entrypoints.stack.procs import log_tail
from billing.entrypoints.topic_setup import ensure_topics
from billing.platform.migrate import migrate
from billing.platform.settings import Settings

Progress = Callable[[str], None]
_WORKER_READY_TIMEOUT_S = 90.0
_WORKER_STOP_TIMEOUT_S = 30.0
_API_READY_TIMEOUT_S = 60.0
_LOG_TAIL_LINES = 40


class Launcher:
    """`any_ports`: the workers' and the API's ports are the kernel's choice, not WORKER_WEB_PORT and API_PORT (for
    stacks that must not collide with another on the same machine: tests, the demo, the benchmark)."""

    def __init__(self, settings: Settings, progress: Progress = lambda _: None, any_ports: bool = False) -> None:
        self.requested = settings
        self.settings = settings
        self.progress = progress
        self.broker: EmbeddedBroker | None = None
        self.postgres: EmbeddedPostgres | None = None
        self.workers: list[subprocess.Popen] = []
        self.api: subprocess.Popen | None = None
        self.more_apis: list[subprocess.Popen] = []
        self.listeners = Listeners(settings.worker_web_host, settings.api_host, any_ports)

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, workers: int | None = None, api: bool = False) -> Settings:
        """Bring the whole stack up; returns the settings with the servers' addresses filled in.

        `api`: also the agent API on API_PORT (`billing up` asks for it; the demo and benchmarks do not).
        Every port it serves on is bound first: a port in use stops it before any server has started."""
        count = self.settings.workers if workers is None else workers
        try:
            ensure_state_dir(self.requested.state_dir)
            self._reserve_ports(count, api=api and bool(self.settings.api_port))
            self.start_services()
            self.start_workers(count)
            if api and self.settings.api_port:
                self.start_api()
        except BaseException:
            self.stop()
            raise
        return self.settings

    def start_services(self) -> Settings:
        ensure_state_dir(self.requested.state_dir)
        logs = self.logs_dir()
        # The broker and its topics first: a configured broker that does not answer stops `up` before PostgreSQL
        # has started, and a configured database that does not answer stops it at the migrations.
        bootstrap = self.requested.kafka_bootstrap_servers or self._start_broker(logs)
        created = _run(ensure_topics(self.requested.model_copy(update={"kafka_bootstrap_servers": bootstrap})))
        self.progress(f"topics: {len(created)} created" if created else "topics: all present")
        dsn = self.requested.database_url.get_secret_value() if self.requested.database_url else self._start_pg(logs)
        self.settings = _resolved(self.requested, bootstrap, dsn, embedded_broker=self.broker is not None)
        applied = _run(migrate(dsn))
        self.progress(f"database: {len(applied)} migration(s) applied" if applied else "database: schema up to date")
        return self.settings

    def start_workers(self, count: int) -> None:
        self._reserve_ports(len(self.workers) + count, api=False)
        for index in range(len(self.workers), len(self.workers) + count):
            self.workers.append(self._spawn_worker(index))
        for index, proc in enumerate(self.workers):
            self._wait_worker_ready(index, proc)
        self.progress(f"workers: {len(self.workers)} running (health on port {self.settings.worker_web_port}+)")

    def stop_worker(self, index: int, kill: bool = False) -> None:
        """Stop one worker: gracefully, or with SIGKILL for crash drills."""
        proc = self.workers[index]
        if kill:
            proc.kill()
            proc.wait()
        else:
            stop_process(proc, timeout=_WORKER_STOP_TIMEOUT_S)

    def restart_worker(self, index: int) -> None:
        self.workers[index] = self._spawn_worker(index)
        self._wait_worker_ready(index, self.workers[index])

    def start_api(self) -> None:
        """The agent API (`billing api`) beside the workers; API_PORT=0 leaves it out."""
        self._reserve_ports(0, api=True)
        self.api = self._spawn_api(self.listeners.api(self.settings.api_port), "api.log")

    def start_another_api(self) -> int:
        """One more agent API process on a free port (returned), as a load balancer would spread agents over
        several: each serves its own desks' event streams (docs/desk.md, live updates across processes)."""
        listener = listen_on(self.settings.api_host, 0)
        self.listeners.hold(listener)
        self.more_apis.append(self._spawn_api(listener, f"api-{len(self.more_apis) + 1}.log"))
        return int(listener.getsockname()[1])

    def _spawn_api(self, listener: socket.socket, log_name: str) -> subprocess.Popen:
        host, port = self.settings.api_host, listener.getsockname()[1]
        proc = self._spawn(["api"], log_name, listener)
        deadline = time.monotonic() + _API_READY_TIMEOUT_S
        while not _healthy(f"http://{host}:{port}/health"):
            if proc.poll() is not None:
                raise self._start_failed(f"the agent API exited with code {proc.returncode} at start", log_name)
            if time.monotonic() > deadline:
                waited = f"within {_API_READY_TIMEOUT_S:.0f} s"
                raise self._start_failed(f"the agent API did not answer on port {port} {waited}", log_name)
            time.sleep(0.25)
        self.progress(f"agent API: http://{host}:{port} (OpenAPI at /docs)")
        return proc

    def stop(self) -> None:
        for proc in [*self.more_apis, *([self.api] if self.api is not None else [])]:
            stop_process(proc, timeout=_WORKER_STOP_TIMEOUT_S)
        self.api = None
        self.more_apis.clear()
        for proc in reversed(self.workers):
            stop_process(proc, timeout=_WORKER_STOP_TIMEOUT_S)
        self.workers.clear()
        for service in (self.postgres, self.broker):
            if service is not None:
                service.stop()
        self.postgres = self.broker = None
        self.listeners.close()

    def worker_env(self) -> dict[str, str]:
        """Every setting, as the environment variable it is read from, so a worker sees what `up` sees."""
        env = dict(os.environ)
        for name, value in self.settings.model_dump().items():
            if value is None:
                env.pop(name.upper(), None)
                continue
            env[name.upper()] = _env_value(value)
        return env

    def logs_dir(self) -> Path:
        path = self.requested.state_dir / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _start_broker(self, logs: Path) -> str:
        started = time.monotonic()
        self.broker = EmbeddedBroker(log_dir=logs)
        bootstrap = self.broker.start()
        self.progress(f"broker: embedded Tansu on {bootstrap} (ready in {time.monotonic() - started:.1f} s)")
        return bootstrap

    def _start_pg(self, logs: Path) -> str:
        started = time.monotonic()
        self.postgres = EmbeddedPostgres(data_dir=self.requested.state_dir / "postgres")
        dsn = self.postgres.start()
        self.progress(f"database: private PostgreSQL at {dsn} (ready in {time.monotonic() - started:.1f} s)")
        return dsn

    def _reserve_ports(self, workers: int, api: bool) -> None:
        """Bind what is not bound yet, and make the settings (which the children get) say where."""
        base = self.listeners.reserve_workers(workers, self.requested.worker_web_port)
        ports = {"worker_web_port": base}
        if api:
            ports["api_port"] = self.listeners.api(self.requested.api_port).getsockname()[1]
        self.requested = self.requested.model_copy(update=ports)
        self.settings = self.settings.model_copy(update=ports)

    def _spawn_worker(self, index: int) -> subprocess.Popen:
        return self._spawn(["worker", "--index", str(index)], f"worker-{index}.log", self.listeners.worker(index))

    def _spawn(self, args: list[str], log_name: str, listener: socket.socket) -> subprocess.Popen:
        log_file = open(self.logs_dir() / log_name, "ab")  # noqa: SIM115 - owned by the child
        try:
            return subprocess.Popen(
                [sys.executable, "-m", "billing.entrypoints.cli.main", *args, "--listen-fd", str(listener.fileno())],
                env=self.worker_env(),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(listener.fileno(),),
                # Its log folder: a working directory holding no Python package, so `-m` puts nothing on sys.path
                # that could shadow a module.
                cwd=str(self.logs_dir()),
            )
        finally:
            log_file.close()

    def _start_failed(self, what: str, log_name: str) -> PrerequisiteError:
        """The error for a child that did not come up, with the end of its log in the message itself, so that a
        test's failure or a traceback shows why without the log file at hand."""
        path = self.logs_dir() / log_name
        return PrerequisiteError(f"{what}: the last lines of its log ({path}) follow.", log_tail(path, _LOG_TAIL_LINES))

    def _wait_worker_ready(self, index: int, proc: subprocess.Popen) -> None:
        url = f"http://{self.settings.worker_web_host}:{self.settings.worker_web_port + index}/health"
        log_name = f"worker-{index}.log"
        deadline = time.monotonic() + _WORKER_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise self._start_failed(f"worker {index} exited with code {proc.returncode} at start", log_name)
            if _healthy(url):
                return
            time.sleep(0.25)
        waited = f"within {_WORKER_READY_TIMEOUT_S:.0f} s"
        raise self._start_failed(f"worker {index} did not report healthy at {url} {waited}", log_name)


def _env_value(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def ensure_state_dir(path: Path) -> None:
    """STATE_DIR exists (created if need be) and takes files, or one sentence saying what to do."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise PrerequisiteError(
            f"STATE_DIR {path} is not a directory this process can write to ({reason}):"
            " create it or set STATE_DIR to one that is."
        ) from None


def _healthy(url: str) -> bool:
    try:
        # Longer than the health check's own database timeout (2 s), so a slow answer is not taken for none.
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - our own loopback endpoint
            return response.status == 200
    except OSError:
        return False


def _resolved(settings: Settings, bootstrap: str, dsn: str, embedded_broker: bool) -> Settings:
    values = {**settings.model_dump(), "kafka_bootstrap_servers": bootstrap, "database_url": dsn}
    if embedded_broker and settings.kafka_idempotent_producer is None:
        values["kafka_idempotent_producer"] = False  # Tansu answers InitProducerId with an error
    return Settings(**values)


def _run(coro):
    return asyncio.run(coro)
