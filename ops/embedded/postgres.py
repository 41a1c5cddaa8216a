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
import glob
import grp
import logging
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

from .procs import (
    PrerequisiteError,
    died_error,
    free_port,
    log_tail,
    pid_alive,
    port_is_free,
    stop_process,
    wait_for_port,
)

log = logging.getLogger("ops.embedded")

__all__ = ["EmbeddedPostgres", "find_pg_bindir"]

_INSTALL_HINT = "install postgresql-15 (apt-get install postgresql-15) or set DATABASE_URL"
_SUPERUSER = "postgres"
_OS_USER = "postgres"
_SOCKET_PATH_MAX = 107  # sizeof(sun_path) - 1 on Linux


# ---------------------------------------------------------------------------
# binaries
# ---------------------------------------------------------------------------
def _has_server(bindir: str | Path) -> bool:
    return all(os.access(os.path.join(bindir, b), os.X_OK) for b in ("postgres", "initdb"))


def _version_key(path: str) -> tuple:
    m = re.search(r"/(\d+)(?:\.(\d+))?/bin$", path)
    return (int(m.group(1)), int(m.group(2) or 0)) if m else (0, 0)


def find_pg_bindir(major: str | None = None) -> Path:
    """Directory holding ``postgres`` and ``initdb``.

    Order: ``pg_config --bindir``, then ``/usr/lib/postgresql/*/bin`` (newest
    first), ``/usr/pgsql-*/bin``, then ``initdb`` on PATH.  With *major*, only a
    bindir of that major version is accepted.
    """
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(out)
        except (OSError, subprocess.SubprocessError):
            pass
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates += sorted(glob.glob("/usr/pgsql-*/bin"), key=_version_key, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(os.path.dirname(initdb))

    for c in candidates:
        if _has_server(c) and (major is None or _bindir_major(c) == major):
            return Path(c)
    if major is not None:
        raise PrerequisiteError(
            f"PostgreSQL {major} server binaries not found for an existing cluster: "
            f"install postgresql-{major} (apt-get install postgresql-{major}) or set DATABASE_URL."
        )
    raise PrerequisiteError(f"PostgreSQL server binaries not found: {_INSTALL_HINT}.")


_major_cache: dict[str, str | None] = {}


def _bindir_major(bindir: str | Path) -> str | None:
    key = str(bindir)
    if key not in _major_cache:
        try:
            out = subprocess.run(
                [os.path.join(key, "postgres"), "--version"],
                capture_output=True, text=True, timeout=10,
            ).stdout
            m = re.search(r"(\d+)(?:\.\d+)?", out)
            _major_cache[key] = m.group(1) if m else None
        except (OSError, subprocess.SubprocessError):
            _major_cache[key] = None
    return _major_cache[key]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _run_sync(coro_factory):
    """``asyncio.run`` from sync code, in a helper thread if a loop is running here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro_factory())
        except BaseException as exc:
            result["error"] = exc

    t = threading.Thread(target=target, name="embedded-postgres-probe", daemon=True)
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def _proc_cmdline(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


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
        self._run_as: tuple[int, int] | None = None
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

        self._prepare_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._ensure_traversable(self.data_dir)
        existing_major = self._cluster_major()
        self._bindir = find_pg_bindir(existing_major)

        if existing_major is not None:
            self._handle_leftover_postmaster()
        self.port = self._choose_port()  # before initdb: fail fast on a busy port
        if existing_major is None:
            self._initdb()
        self._spawn()
        try:
            wait_for_port(
                self.host, self.port, max(0.0, deadline - time.monotonic()),
                proc=self._proc, log_path=self.log_path, what="Embedded PostgreSQL",
            )
            _run_sync(lambda: self._bootstrap(deadline))
        except BaseException:
            self.stop(timeout=5)
            raise
        self._port_file.write_text(f"{self.port}\n")
        self.ready_seconds = time.monotonic() - started
        log.info("embedded PostgreSQL ready at %s (pid %d) in %.2fs", self.dsn, self.pid, self.ready_seconds)
        return self.dsn  # type: ignore[return-value]

    def stop(self, timeout: float = 15.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        # SIGINT = PostgreSQL "fast" shutdown: roll back sessions, checkpoint, exit.
        stop_process(proc, timeout=timeout, sig=signal.SIGINT)
        log.info("embedded PostgreSQL (pid %d) stopped", proc.pid)

    def __enter__(self) -> "EmbeddedPostgres":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- OS user / permissions ------------------------------------------------
    def _prepare_user(self) -> None:
        """PostgreSQL refuses to run as root: when root, run it as 'postgres'."""
        if os.geteuid() != 0:
            self._run_as = None
            return
        try:
            pw = pwd.getpwnam(_OS_USER)
        except KeyError:
            raise PrerequisiteError(
                "PostgreSQL cannot run as root and there is no 'postgres' OS user: "
                "create one (useradd --system postgres) or set DATABASE_URL."
            ) from None
        self._run_as = (pw.pw_uid, pw.pw_gid)

    def _ensure_traversable(self, path: Path) -> None:
        """Make sure the server's OS user can reach *path* (search bit on ancestors)."""
        if self._run_as is None:
            return
        uid, gid = self._run_as
        groups = {gid} | {g.gr_gid for g in grp.getgrall() if _OS_USER in g.gr_mem}
        for d in [path, *path.parents]:
            st = d.stat()
            if st.st_uid == uid:
                ok = st.st_mode & stat.S_IXUSR
            elif st.st_gid in groups:
                ok = st.st_mode & stat.S_IXGRP
            else:
                ok = st.st_mode & stat.S_IXOTH
            if not ok:
                # Search-only (no read/list) permission is enough for the server
                # to reach its data directory.
                log.warning("adding o+x to %s so the '%s' user can reach %s", d, _OS_USER, path)
                os.chmod(d, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)

    def _chown_tree(self, path: Path) -> None:
        if self._run_as is None:
            return
        uid, gid = self._run_as
        os.chown(path, uid, gid)
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                os.lchown(os.path.join(root, name), uid, gid)

    def _child_kwargs(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        kw: dict = dict(env=env, stdin=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        if self._run_as is not None:
            uid, gid = self._run_as
            pw = pwd.getpwuid(uid)
            env.update(HOME=pw.pw_dir, USER=pw.pw_name, LOGNAME=pw.pw_name)
            kw.update(user=uid, group=gid, extra_groups=[])
        return kw

    # -- cluster --------------------------------------------------------------
    def _cluster_major(self) -> str | None:
        try:
            return (self.pgdata / "PG_VERSION").read_text().strip() or None
        except FileNotFoundError:
            return None

    def _initdb(self) -> None:
        """Create the cluster.  initdb runs into a scratch dir that is renamed
        into place on success, so a crash mid-initdb never leaves a
        half-initialised pgdata behind."""
        assert self._bindir is not None
        if self.pgdata.exists():
            # pgdata without PG_VERSION: not a cluster we can use. Keep it aside.
            aside = self.pgdata.with_name(f"pgdata.broken-{int(time.time())}")
            log.warning("%s is not an initialised cluster; moving it to %s", self.pgdata, aside)
            self.pgdata.rename(aside)
        scratch = self.data_dir / "pgdata.initdb-tmp"
        if scratch.exists():
            shutil.rmtree(scratch)
        scratch.mkdir(mode=0o700)
        self._chown_tree(scratch)

        t0 = time.monotonic()
        cmd = [
            str(self._bindir / "initdb"),
            "-D", str(scratch),
            "-U", _SUPERUSER,
            # trust auth: this is a private development cluster that listens on
            # 127.0.0.1 and a socket inside data_dir only; there are no
            # passwords to manage and nothing but this machine can reach it.
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            # skip fsync of the freshly created files (speed); the running
            # server itself keeps fsync=on.
            "--no-sync",
            "--no-instructions",
        ]
        with open(self.initdb_log_path, "ab") as logf:
            logf.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
            logf.flush()
            kw = self._child_kwargs()
            kw.update(stdout=logf, stderr=subprocess.STDOUT, cwd=str(scratch))
            proc = subprocess.Popen(cmd, **kw)
            try:
                rc = proc.wait(timeout=300)
            except subprocess.TimeoutExpired:
                stop_process(proc, timeout=5)
                rc = proc.returncode
        if rc != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            tail = log_tail(self.initdb_log_path)
            last = next((ln.strip() for ln in reversed(tail.splitlines()) if ln.strip()), "")
            raise PrerequisiteError(
                f"initdb failed with code {rc} ({last[:200]!r}): see {self.initdb_log_path} for details.",
                detail=tail,
            )
        scratch.rename(self.pgdata)
        self.initdb_seconds = time.monotonic() - t0
        log.info("initialised PostgreSQL cluster in %s (%.2fs)", self.pgdata, self.initdb_seconds)

    def _handle_leftover_postmaster(self) -> None:
        """Deal with postmaster.pid from an earlier run."""
        pidfile = self.pgdata / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
            pid = int(lines[0])
        except FileNotFoundError:
            return
        except (OSError, ValueError, IndexError):
            log.warning("removing unreadable %s", pidfile)
            pidfile.unlink(missing_ok=True)
            return
        cmd = _proc_cmdline(pid)
        is_postgres = pid_alive(pid) and bool(cmd) and os.path.basename(cmd[0]) in (b"postgres", b"postmaster")
        if is_postgres:
            # The postmaster chdirs into its data directory; a different cwd
            # means the pid was reused by some other cluster's server.
            try:
                is_postgres = os.readlink(f"/proc/{pid}/cwd") == os.path.realpath(self.pgdata)
            except OSError:
                pass
        if not is_postgres:
            log.info("removing stale %s (pid %d is not running)", pidfile, pid)
            pidfile.unlink(missing_ok=True)
            return
        log.warning("a PostgreSQL server from an earlier run (pid %d) still owns %s; stopping it", pid, self.pgdata)
        stop_process(pid, timeout=30, sig=signal.SIGINT)
        pidfile.unlink(missing_ok=True)  # only left behind if it had to be SIGKILLed

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
        self._chown_tree(self.socket_dir)
        if self._run_as is not None:
            uid, gid = self._run_as
            st = self.pgdata.stat()
            if (st.st_uid, st.st_gid) != (uid, gid):
                self._chown_tree(self.pgdata)
        cmd = self._server_cmd()
        with open(self.log_path, "ab") as logf:
            logf.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
            logf.flush()
            kw = self._child_kwargs()
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
                    host=self.host, port=self.port, user=_SUPERUSER, database="postgres",
                    timeout=max(1.0, min(5.0, remaining)),
                )
                break
            except (OSError, asyncio.TimeoutError, asyncpg.CannotConnectNowError, asyncpg.PostgresConnectionError):
                if remaining <= 0:
                    raise PrerequisiteError(
                        f"Embedded PostgreSQL on {self.host}:{self.port} did not accept connections "
                        f"in time: see {self.log_path} for details.",
                        detail=log_tail(self.log_path),
                    ) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", self.user):
                await conn.execute(f"CREATE ROLE {_quote_ident(self.user)} LOGIN")
                log.info("created role %s", self.user)
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", self.database):
                await conn.execute(
                    f"CREATE DATABASE {_quote_ident(self.database)} OWNER {_quote_ident(self.user)}"
                )
                log.info("created database %s", self.database)
        finally:
            await conn.close()
