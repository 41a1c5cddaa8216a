"""Long-running loops (the usage batch consumer, the outbox relay) as services of the Faust worker.

A loop that fails with a bug is logged and restarted after a pause instead of dying quietly (the failure
mode faust-streaming issue 175 describes for agents); a stop request ends it between batches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import mode

from billing.platform.logs import get_logger

Loop = Callable[[asyncio.Event], Awaitable[None]]
_RESTART_PAUSE_S = 2.0
_STOP_GRACE_S = 20.0


class LoopService(mode.Service):
    def __init__(self, name: str, loop_fn: Loop, **kwargs) -> None:
        super().__init__(**kwargs)
        self.loop_name = name
        self.loop_fn = loop_fn
        self._stopping = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._log = get_logger("billing.loops").bind(loop=name)

    @property
    def label(self) -> str:  # shown in Faust's service tree
        return f"LoopService[{self.loop_name}]"

    async def on_start(self) -> None:
        self._task = asyncio.ensure_future(self._guarded())

    async def on_stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), _STOP_GRACE_S)
            except TimeoutError:
                self._task.cancel()

    async def _guarded(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.loop_fn(self._stopping)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - restart rather than leave the partitions unserved
                self._log.exception("loop crashed; restarting")
                await asyncio.sleep(_RESTART_PAUSE_S)
