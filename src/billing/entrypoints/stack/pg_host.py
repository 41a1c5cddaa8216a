"""What the embedded PostgreSQL needs from the host: the server binaries, the OS user the server runs as (it
refuses root), and the fate of a server an earlier run left behind."""

from __future__ import annotations

import contextlib
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
import time
from pathlib import Path

from .procs import PrerequisiteError, log_tail, pid_alive, stop_process

log = logging.getLogger("billing.entrypoints.stack")

_INSTALL_HINT = "install postgresql-15 (apt-get install postgresql-15) or set DATABASE_URL"
_OS_USER = "postgres"
RunAs = tuple[int, int] | None  # (uid, gid) to run the server as when we are root, else None


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
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout
            m = re.search(r"(\d+)(?:\.\d+)?", out)
            _major_cache[key] = m.group(1) if m else None
        except (OSError, subprocess.SubprocessError):
            _major_cache[key] = None
    return _major_cache[key]


# ---------------------------------------------------------------------------
# the server's OS user
# ---------------------------------------------------------------------------
def server_user() -> RunAs:
    """PostgreSQL refuses to run as root: when root, run it as 'postgres' ((uid, gid)), else as ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(_OS_USER)
    except KeyError:
        raise PrerequisiteError(
            "PostgreSQL cannot run as root and there is no 'postgres' OS user: "
            "create one (useradd --system postgres) or set DATABASE_URL."
        ) from None
    return (pw.pw_uid, pw.pw_gid)


def ensure_traversable(path: Path, run_as: RunAs) -> None:
    """Make sure the server's OS user can reach *path* (search bit on ancestors)."""
    if run_as is None:
        return
    uid, gid = run_as
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


def chown_tree(path: Path, run_as: RunAs) -> None:
    if run_as is None:
        return
    uid, gid = run_as
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, gid)


def child_kwargs(run_as: RunAs) -> dict:
    """Popen arguments for a server process: a clean environment, its own session, the server's OS user."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    kw: dict = dict(env=env, stdin=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    if run_as is not None:
        uid, gid = run_as
        pw = pwd.getpwuid(uid)
        env.update(HOME=pw.pw_dir, USER=pw.pw_name, LOGNAME=pw.pw_name)
        kw.update(user=uid, group=gid, extra_groups=[])
    return kw


# ---------------------------------------------------------------------------
# a server from an earlier run
# ---------------------------------------------------------------------------
def stop_leftover_postmaster(pgdata: Path) -> None:
    """Deal with postmaster.pid from an earlier run."""
    pidfile = pgdata / "postmaster.pid"
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
        with contextlib.suppress(OSError):
            is_postgres = os.readlink(f"/proc/{pid}/cwd") == os.path.realpath(pgdata)
    if not is_postgres:
        log.info("removing stale %s (pid %d is not running)", pidfile, pid)
        pidfile.unlink(missing_ok=True)
        return
    log.warning("a PostgreSQL server from an earlier run (pid %d) still owns %s; stopping it", pid, pgdata)
    stop_process(pid, timeout=30, sig=signal.SIGINT)
    pidfile.unlink(missing_ok=True)  # only left behind if it had to be SIGKILLed


def _proc_cmdline(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


# ---------------------------------------------------------------------------
# the cluster
# ---------------------------------------------------------------------------
def initdb(bindir: Path, pgdata: Path, log_path: Path, run_as: RunAs, superuser: str) -> float:
    """Create the cluster; returns the seconds it took.  initdb runs into a scratch dir that is renamed
    into place on success, so a crash mid-initdb never leaves a half-initialised pgdata behind."""
    if pgdata.exists():
        # pgdata without PG_VERSION: not a cluster we can use. Keep it aside.
        aside = pgdata.with_name(f"pgdata.broken-{int(time.time())}")
        log.warning("%s is not an initialised cluster; moving it to %s", pgdata, aside)
        pgdata.rename(aside)
    scratch = pgdata.parent / "pgdata.initdb-tmp"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(mode=0o700)
    chown_tree(scratch, run_as)

    t0 = time.monotonic()
    cmd = [
        str(bindir / "initdb"),
        "-D",
        str(scratch),
        "-U",
        superuser,
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
    with open(log_path, "ab") as logf:
        logf.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        logf.flush()
        kw = child_kwargs(run_as)
        kw.update(stdout=logf, stderr=subprocess.STDOUT, cwd=str(scratch))
        proc = subprocess.Popen(cmd, **kw)
        try:
            rc = proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            stop_process(proc, timeout=5)
            rc = proc.returncode
    if rc != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        tail = log_tail(log_path)
        last = next((ln.strip() for ln in reversed(tail.splitlines()) if ln.strip()), "")
        raise PrerequisiteError(
            f"initdb failed with code {rc} ({last[:200]!r}): see {log_path} for details.",
            detail=tail,
        )
    scratch.rename(pgdata)
    return time.monotonic() - t0
