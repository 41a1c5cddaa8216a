"""structlog configured once per process: JSON lines for machines, coloured console for people.

Faust and aiokafka log through the standard library; they are routed through the same renderer so one
process writes one format. A long-running process whose output is its log (a worker, the agent API) also
routes what would bypass logging (Python warnings, uncaught exceptions, stray writes to stdout and stderr)
through it: `route_process_output`.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from types import TracebackType

import structlog

_SHARED_PROCESSORS: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
    structlog.processors.format_exc_info,
]


def configure_logging(level: str = "INFO", fmt: str = "json", stream=sys.stderr) -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*_SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(foreign_pre_chain=_SHARED_PROCESSORS, processor=renderer))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The frameworks are chatty at INFO about every rebalance step; keep their warnings.
    for noisy in ("aiokafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)


def route_process_output() -> None:
    """Everything this process would write outside logging becomes a log record (call after configure_logging).

    Python warnings go to the "py.warnings" logger; an uncaught exception (main thread or another) and an
    unraisable one are logged with their traceback; a line printed to stdout or stderr is logged as it is."""
    logging.captureWarnings(True)
    uncaught = logging.getLogger("uncaught")
    sys.excepthook = lambda kind, error, tb: uncaught.critical("uncaught exception", exc_info=(kind, error, tb))
    threading.excepthook = lambda hook: uncaught.critical(
        "uncaught exception in thread %s",
        getattr(hook.thread, "name", "?"),
        exc_info=_exc_info(hook.exc_type, hook.exc_value, hook.exc_traceback),
    )
    sys.unraisablehook = lambda hook: uncaught.error(
        "%s: %r",
        hook.err_msg or "exception ignored",
        hook.object,
        exc_info=_exc_info(hook.exc_type, hook.exc_value, hook.exc_traceback),
    )
    sys.stdout = _LineLogger(logging.getLogger("stdout"), logging.INFO, sys.__stdout__)
    sys.stderr = _LineLogger(logging.getLogger("stderr"), logging.WARNING, sys.__stderr__)


def _exc_info(
    kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
) -> tuple[type[BaseException], BaseException, TracebackType | None] | None:
    """A hook's exception as logging takes it; a hook may pass none (then there is no traceback to log)."""
    return (kind, error, tb) if kind is not None and error is not None else None


class _LineLogger(io.TextIOBase):
    """A text stream that logs each line written to it. A write made while logging one (a handler reporting its
    own failure to sys.stderr) goes to the real stream instead, so a broken handler cannot recurse."""

    def __init__(self, logger: logging.Logger, level: int, real) -> None:
        self._logger, self._level, self._real = logger, level, real
        self._pending = ""
        self._lock = threading.Lock()  # threads print too: a line is never split between two of them
        self._busy = threading.local()

    def write(self, text: str) -> int:
        if getattr(self._busy, "on", False):
            return self._real.write(text) if self._real is not None else len(text)
        with self._lock:
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._log(line)
        return len(text)

    def flush(self) -> None:
        # A partial line (no newline yet) stays pending: it is logged when its line is complete or at close.
        return None

    def close(self) -> None:
        if self._pending:
            self._log(self._pending)
            self._pending = ""
        super().close()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._real.fileno()

    # A class attribute (io.TextIOBase's is a read-only descriptor, typed as a plain attribute): what is written
    # here is text, logged as UTF-8.
    encoding = "utf-8"

    def _log(self, line: str) -> None:
        if not line.strip():
            return
        self._busy.on = True
        try:
            self._logger.log(self._level, line.rstrip())
        finally:
            self._busy.on = False
