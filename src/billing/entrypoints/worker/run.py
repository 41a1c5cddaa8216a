"""Run one worker process: the Faust agents, the usage batch consumer and the outbox relay."""

from __future__ import annotations

import faust

from billing.entrypoints.worker.app import create_app
from billing.platform.logs import configure_logging, get_logger, route_process_output
from billing.platform.runtime import tune_gc
from billing.platform.settings import Settings


class _Worker(faust.Worker):
    """Faust's worker without its terminal spinner, which wrote a cursor escape ("\\b\\x1b[?25h") into the log when
    start-up finished, terminal or not; instead one log line says the worker is ready."""

    def __init__(self, *args, index: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.spinner = None
        self.index = index

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        get_logger("billing.worker").info("worker ready", worker=self.index)


def run_worker(settings: Settings, index: int, listen_fd: int | None = None) -> None:
    configure_logging(settings.log_level, settings.log_format)
    route_process_output()
    app = create_app(settings, worker_index=index, listen_fd=listen_fd)
    worker = _Worker(
        app,
        index=index,
        loglevel=settings.log_level,
        override_logging=False,
        redirect_stdouts=False,
        quiet=True,
    )
    tune_gc()
    worker.execute_from_commandline()
