"""Run one worker process: the Faust agents, the usage batch consumer and the outbox relay."""

from __future__ import annotations

import faust

from ops.runtime import tune_gc
from streams.app import create_app
from streams.logs import configure_logging
from streams.settings import Settings


def run_worker(settings: Settings, index: int) -> None:
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings, worker_index=index)
    worker = faust.Worker(
        app,
        loglevel=settings.log_level,
        override_logging=False,
        redirect_stdouts=False,
        quiet=True,
    )
    tune_gc()
    worker.execute_from_commandline()
