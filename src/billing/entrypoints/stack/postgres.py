"""Embedded PostgreSQL cluster for development, used when DATABASE_URL is unset.

Layout under *data_dir*::

    pgdata/          the cluster (initdb'd once, reused across runs)
    run/             unix socket directory (keeps /var/run/postgresql out of it)
    port             last port used, reused when still free so the DSN is stable
    initdb.log       output of initdb
    postgres.log     server log

The server is started as ``postgres -D pgdata`` directly as our child (not
daemonised by pg_ctl) so we own its pid: ``stop()`` sends SIGINT (fast
shutdown) and escalates to SIGKILL on the process group.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import time
from pathlib import Path

from .pg_host import (
    RunAs,
    child_kwargs,
    chown_tree,
    ensure_traversable,
    find_pg_bindir,
    initdb,
    server_user,
    stop_leftover_postmaster,
)
from .procs import (
    PortTaken,
    PrerequisiteError,
    died_error,
    free_port,
    log_tail,
    lost_port,
    port_is_free,
    run_sync,
    stop_process,
    wait_for_port,
)

log = logging.getLogger("billing.entrypoints.stack")

__all__ = ["EmbeddedPostgres", "find_pg_bindir"]

_SUPERUSER = "postgres"
_SOCKET_PATH_MAX = 107  # sizeof(sun_path) - 1 on Linux


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class EmbeddedPostgres:
    """A private PostgreSQL cluster in *data_dir*, listening on *host* only."""

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int | None = None,
        database: str = "billing",
        user: str = "billing",
        *,
        port_hint: str = "EmbeddedPostgres(port=...)",
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.host = host
        self.requested_port = port
        self.port: int | None = port
        self.database = database
        self.user = user
        self.port_hint = port_hint
        self.pgdata = self.data_dir / "pgdata"
        self.socket_dir = self.data_dir / "run"
        self.log_path = self.data_dir / "postgres.log"
        self.initdb_log_path = self.data_dir / "initdb.log"
        self._port_file = self.data_dir / "port"
        self._proc: subprocess.Popen | None = None
        self._bindir: Path | None = None
        # (uid, gid) to run the server as when we are root, else None
        self._run_as: RunAs = None
        # timings of the last start(), for diagnostics
        self.initdb_seconds: float | None = None
        self.ready_seconds: float | None = None

    # -- properties ---------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def dsn(self) -> str | None:
        if self._proc is None or self.port is None:
            return None
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle ------------------------------------------------------------
    def start(self, timeout: float = 30) -> str:
        if self.running:
            return self.dsn  # type: ignore[return-value]
        started = time.monotonic()
        deadline = started + timeout
        self.initdb_seconds = None

        self._run_as = server_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_traversable(self.data_dir, self._run_as)
        existing_major = self._cluster_major()
        self._bindir = find_pg_bindir(existing_major)

        if existing_major is not None:
            stop_leftover_postmaster(self.pgdata)
        self.port = self._choose_port()  # before initdb: fail fast on a busy port
        if existing_major is None:
            self._initdb()
        attempts = 1 if self.requested_port is not None else 5
        for attempt in range(1, attempts + 1):
            try:
                self._serve(deadline)
            except PrerequisiteError as error:
                # A port of our choosing can be taken by another process (another stack starting at the same
                # moment) between choosing it and the server's bind: start again on a fresh one.
                taken = isinstance(error, PortTaken) or lost_port(self.log_path)
                if taken and attempt < attempts and time.monotonic() < deadline:
                    log.info("embedded PostgreSQL lost port %d to another process; retrying", self.port)
                    self.port = free_port(self.host)
                    continue
                raise
            break
        self._port_file.write_text(f"{self.port}\n")
        self.ready_seconds = time.monotonic() - started
        log.info("embedded PostgreSQL ready at %s (pid %d) in %.2fs", self.dsn, self.pid, self.ready_seconds)
        return self.dsn  # type: ignore[return-value]

    def _serve(self, deadline: float) -> None:
        """Start the server on self.port and wait until it is ours and takes connections (stopped on failure)."""
        port = self.port
        if port is None:
            raise RuntimeError("the port is chosen before the server starts")
        self._spawn()
        try:
            wait_for_port(
                self.host,
                port,
                max(0.0, deadline - time.monotonic()),
                proc=self._proc,
                log_path=self.log_path,
                what="Embedded PostgreSQL",
            )
            run_sync(lambda: self._bootstrap(deadline))
        except BaseException:
            self.stop(timeout=5)
            raise

    def stop(self, timeout: float = 15.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        # SIGINT = PostgreSQL "fast" shutdown: roll back sessions, checkpoint, exit.
        stop_process(proc, timeout=timeout, sig=signal.SIGINT)
        log.info("embedded PostgreSQL (pid %d) stopped", proc.pid)

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- cluster --------------------------------------------------------------
    def _cluster_major(self) -> str | None:
        try:
            return (self.pgdata / "PG_VERSION").read_text().strip() or None
        except FileNotFoundError:
            return None

    def _initdb(self) -> None:
        assert self._bindir is not None
        self.initdb_seconds = initdb(self._bindir, self.pgdata, self.initdb_log_path, self._run_as, _SUPERUSER)
        log.info("initialised PostgreSQL cluster in %s (%.2fs)", self.pgdata, self.initdb_seconds)

    def _choose_port(self) -> int:
        if self.requested_port is not None:
            if not port_is_free(self.host, self.requested_port):
                raise PrerequisiteError(
                    f"port {self.requested_port} is in use: stop what is using it "
                    f"or choose another with {self.port_hint}."
                )
            return self.requested_port
        try:
            last = int(self._port_file.read_text().split()[0])
            if 1024 <= last <= 65535 and port_is_free(self.host, last):
                return last
        except (OSError, ValueError, IndexError):
            pass
        return free_port(self.host)

    def _server_cmd(self) -> list[str]:
        assert self._bindir is not None and self.port is not None
        sock_dir = str(self.socket_dir)
        if len(sock_dir) + len(f"/.s.PGSQL.{self.port}") > _SOCKET_PATH_MAX:
            log.info("socket path under %s would be too long; unix sockets disabled (TCP only)", sock_dir)
            sock_dir = ""
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": sock_dir,
            "shared_buffers": "256MB",
            "max_connections": "200",
            # fsync / synchronous_commit / full_page_writes stay at their safe defaults.
            "logging_collector": "off",
            "log_line_prefix": "%m [%p] ",
        }
        cmd = [str(self._bindir / "postgres"), "-D", str(self.pgdata)]
        for k, v in settings.items():
            cmd += ["-c", f"{k}={v}"]
        return cmd

    def _spawn(self) -> None:
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        chown_tree(self.socket_dir, self._run_as)
        if self._run_as is not None:
            uid, gid = self._run_as
            st = self.pgdata.stat()
            if (st.st_uid, st.st_gid) != (uid, gid):
                chown_tree(self.pgdata, self._run_as)
        cmd = self._server_cmd()
        with open(self.log_path, "ab") as logf:
            logf.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
            logf.flush()
            kw = child_kwargs(self._run_as)
            kw.update(stdout=logf, stderr=subprocess.STDOUT, cwd=str(self.pgdata))
            self._proc = subprocess.Popen(cmd, **kw)

    async def _bootstrap(self, deadline: float) -> None:
        """Wait for connections to be accepted, then create role + database."""
        import asyncpg

        delay = 0.02
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                raise died_error("Embedded PostgreSQL", self._proc, self.log_path)
            remaining = deadline - time.monotonic()
            try:
                conn = await asyncpg.connect(
                    host=self.host,
                    port=self.port,
                    user=_SUPERUSER,
                    database="postgres",
                    timeout=max(1.0, min(5.0, remaining)),
                )
                break
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.PostgresConnectionError):
                # Not ready yet, or another server on the port refusing our user: ours dies of it (checked above).
                if remaining <= 0:
                    raise PrerequisiteError(
                        f"Embedded PostgreSQL on {self.host}:{self.port} did not accept connections "
                        f"in time: see {self.log_path} for details.",
                        detail=log_tail(self.log_path),
                    ) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)
        try:
            served_from = Path(await conn.fetchval("SHOW data_directory"))
            if served_from.resolve() != self.pgdata.resolve():  # noqa: ASYNC240 - once, at start
                where = f"{self.host}:{self.port}"
                raise PortTaken(f"another PostgreSQL (data directory {served_from}) answers on {where}.")
            if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", self.user):
                await conn.execute(f"CREATE ROLE {_quote_ident(self.user)} LOGIN")
                log.info("created role %s", self.user)
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", self.database):
                await conn.execute(f"CREATE DATABASE {_quote_ident(self.database)} OWNER {_quote_ident(self.user)}")
                log.info("created database %s", self.database)
        finally:
            await conn.close()
