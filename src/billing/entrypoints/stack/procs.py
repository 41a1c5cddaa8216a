"""Process and port helpers shared by the embedded broker and PostgreSQL.

Child services are started with ``start_new_session=True`` so that a Ctrl-C in
the launcher's terminal is not delivered to them half-way through our own
shutdown; the owner stops them explicitly by pid with :func:`stop_process`.
Their output always goes to log files, never to our stdout.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

log = logging.getLogger("billing.entrypoints.stack")

ProcOrPid = subprocess.Popen | int

__all__ = [
    "PortTaken",
    "PrerequisiteError",
    "free_port",
    "log_tail",
    "lost_port",
    "pid_alive",
    "port_is_free",
    "stop_process",
    "wait_for_port",
]


class PrerequisiteError(RuntimeError):
    """Something the stack needs is missing or broken.

    :attr:`message` is always a single sentence on a single line telling the user
    what to do (the CLI shows it).  Longer diagnostics (e.g. the tail of a log
    file) are kept in :attr:`detail`; ``str(err)`` is the sentence followed by
    them, so that a traceback or a test's failure shows why a process did not
    start without its log file at hand.
    """

    def __init__(self, message: str, detail: str | None = None) -> None:
        message = " ".join(str(message).split())  # force a single line
        super().__init__(message)
        self.message = message
        self.detail = detail or None

    def __str__(self) -> str:
        return f"{self.message}\n{self.detail}" if self.detail else self.message


class PortTaken(PrerequisiteError):
    """Another process holds the port a service was started on (it answered there, or the service could not
    bind): with a port of our own choosing, the owner starts the service again on another."""


# What PostgreSQL ("could not bind ...: Address already in use") and Tansu ("AddrInUse") log on a busy port.
_ADDRESS_IN_USE = ("address already in use", "addrinuse", "address in use")


def lost_port(log_path: Path | str | None) -> bool:
    """True if the latest start recorded in the log (after its last "=== " header) failed to bind its port."""
    tail = log_tail(log_path, lines=200)
    latest = tail.rsplit("\n=== ", 1)[-1].lower()
    return any(marker in latest for marker in _ADDRESS_IN_USE)


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on *host* that is free right now (racy by nature)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(host: str, port: int) -> bool:
    """True if a server could bind *host*:*port* now.

    ``SO_REUSEADDR`` is set, like PostgreSQL and Tansu do for their listeners,
    so connections lingering in TIME_WAIT do not count as "in use", but any
    listener (on *host* or on the wildcard address) does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
        return True


def log_tail(path: Path | str | None, lines: int = 40) -> str:
    """Last *lines* lines of a log file ('' if unreadable)."""
    if path is None:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def _last_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        if line.strip():
            return line.strip()[:200]
    return ""


def died_error(what: str, proc: subprocess.Popen, log_path: Path | str | None) -> PrerequisiteError:
    """Build the error for a child that exited during startup."""
    tail = log_tail(log_path)
    last = _last_line(tail)
    where = f"see {log_path} for details" if log_path else "check its output"
    hint = f" (last log line: {last!r})" if last else ""
    return PrerequisiteError(
        f"{what} exited during startup with code {proc.returncode}{hint}: {where}.",
        detail=tail,
    )


def wait_for_port(
    host: str,
    port: int,
    timeout: float,
    proc: subprocess.Popen | None = None,
    log_path: Path | str | None = None,
    what: str = "process",
) -> None:
    """Wait until something accepts TCP connections on *host*:*port*.

    If *proc* exits first, raise :class:`PrerequisiteError` quoting the tail of
    *log_path*.  On timeout, raise :class:`PrerequisiteError` as well.
    """
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        if proc is not None and proc.poll() is not None:
            raise died_error(what, proc, log_path)
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() >= deadline:
            where = f": see {log_path}" if log_path else ""
            raise PrerequisiteError(
                f"{what} did not open {host}:{port} within {timeout:g}s{where}.",
                detail=log_tail(log_path),
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    # "pid (comm) S ..." -- comm may contain spaces/parens, so split at the last ')'.
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] in (b"Z", b"X")


def pid_alive(pid: int) -> bool:
    """True if *pid* exists and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _reap(pid: int) -> bool:
    """Reap *pid* if it is our exited child; return True if it is gone."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child (or already reaped)
        return not pid_alive(pid)
    return done == pid


def _wait_gone(proc: subprocess.Popen | None, pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        if proc is not None:
            if proc.poll() is not None:
                return True
        elif _reap(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _signal(pid: int, sig: int, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def stop_process(proc_or_pid: ProcOrPid, timeout: float = 10, sig: int = signal.SIGTERM) -> None:
    """Stop a process: *sig* (SIGTERM by default), wait *timeout*, then SIGKILL.

    If the process leads its own process group (as our ``start_new_session``
    children do), the SIGKILL goes to the whole group so no orphaned workers
    (e.g. PostgreSQL backends) survive.  Raises ``RuntimeError`` if the
    process is still there afterwards.
    """
    proc: subprocess.Popen | None = None
    if isinstance(proc_or_pid, subprocess.Popen):
        proc, pid = proc_or_pid, proc_or_pid.pid
    else:
        pid = int(proc_or_pid)

    if proc is not None and proc.poll() is not None:
        return
    if proc is None and _reap(pid):
        return
    try:
        leader = os.getpgid(pid) == pid
    except ProcessLookupError:
        leader = False

    _signal(pid, sig, group=False)
    if _wait_gone(proc, pid, timeout):
        return

    log.warning("pid %d ignored %s for %.1fs; sending SIGKILL", pid, signal.Signals(sig).name, timeout)
    _signal(pid, signal.SIGKILL, group=leader)
    if not _wait_gone(proc, pid, 5.0):
        raise RuntimeError(f"pid {pid} is still running after SIGKILL")


def run_sync(coro_factory):
    """Run ``coro_factory()`` to completion from sync code.

    Uses ``asyncio.run`` directly, or a helper thread if this thread already
    runs an event loop (``asyncio.run`` refuses to nest).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro_factory())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = exc

    t = threading.Thread(target=target, name="embedded-service-probe", daemon=True)
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")
