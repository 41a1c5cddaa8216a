"""Peak resident memory of a process that may be restarted: the kernel's high-water mark (VmHWM), sampled."""

from __future__ import annotations

import threading
from collections.abc import Callable

_SAMPLE_S = 0.25


def status_kib(status: str, field: str) -> int | None:
    """A `VmXXX:  1234 kB` field of /proc/PID/status, in KiB."""
    for line in status.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def peak_rss_kib(pid: int) -> int | None:
    """The process's peak resident set so far (VmHWM), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            text = handle.read()
    except OSError:
        return None
    return status_kib(text, "VmHWM") or status_kib(text, "VmRSS")


class PeakRss:
    """Samples the high-water mark of whichever process `current_pid()` names; keeps the largest seen.

    VmHWM is kept by the kernel, so a spike between two samples is not missed while the process lives; the
    sampling only has to catch each process before it exits (the runner also samples right before a stop).
    """

    def __init__(self, current_pid: Callable[[], int | None]) -> None:
        self.current_pid = current_pid
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def sample(self) -> None:
        pid = self.current_pid()
        kib = peak_rss_kib(pid) if pid else None
        if kib:
            self.peak_kib = max(self.peak_kib, kib)

    @property
    def peak_mb(self) -> float:
        return round(self.peak_kib / 1024, 1)

    def _run(self) -> None:
        while not self._stop.wait(_SAMPLE_S):
            self.sample()


def cpu_seconds(pid: int | None, with_children: bool = False) -> float:
    """User + system CPU seconds a process (and, for PostgreSQL's postmaster, its backends) has used so far."""
    import psutil

    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)] if with_children else [root]
        total = 0.0
        for process in processes:
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                continue
        return total
    except psutil.NoSuchProcess:
        return 0.0
