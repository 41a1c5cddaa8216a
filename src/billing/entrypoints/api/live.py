"""Live updates for the desk and the wall: task changes pushed to the pages as server-sent events.

Fed by the task events the workers publish (billing.task-events.v1), read in this API process with aiokafka
without a consumer group from the latest offsets (every API process sees every event; none is "consumed"), and
by the successful task and presence actions of the API processes (a claim publishes no task event, yet it takes the
task off every other desk's list). This process's own actions are pushed at once (``LocalChanges``) and sent to
the other API processes, which push them to their pages (billing.entrypoints.api.live_peers: NOTIFY and LISTEN
on PostgreSQL); behind a load balancer, the desks of one centre are spread over several processes. Each event gets
an id `<process epoch>-<sequence>`; the last KEEP are kept, so a page that reconnects with Last-Event-ID (the
browser sends it by itself; desk.js adds it to the URL when the SSE extension opens a new connection) gets what it
missed, or `reset` (reload everything) when its id is from another process or too old. A follower that lost its
source (the broker, the listening connection) and is back publishes a `reset` too: its pages may have missed
events meanwhile. Events carry ids and queue names only, no account data.

A supervisor's reassignment is such an action: it names the task's holder and the agent it is offered to
(``concern``), whose desks are told at once, on whichever process they are (a reassignment publishes a task event
only when the task was held, and none names the new agent).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billing.platform.logs import get_logger
from billing.platform.settings import Settings
from billing.platform.topics import TASK_EVENTS

KEEP = 2000
RESET = "reset"  # the type of the event that tells every page to reload its panels
log = get_logger("billing.api.live")


@dataclass(frozen=True)
class LiveEvent:
    event_id: str
    type: str
    task_id: str | None
    queue: str | None
    agent_id: str | None  # who acted (or the agent a worker's task event names)
    # Agents whose own tasks the change moves although they did not act: a task a supervisor reassigns leaves its
    # holder's desk and is offered on the new agent's, which held nothing of it until then.
    concerns: tuple[str, ...] = ()

    def data(self) -> str:
        return orjson.dumps({"type": self.type, "task_id": self.task_id, "queue": self.queue}).decode()


class Hub:
    def __init__(self, keep: int = KEEP) -> None:
        self.epoch = secrets.token_hex(4)
        self._seq = 0
        self._buffer: deque[LiveEvent] = deque(maxlen=keep)
        self._listeners: set[asyncio.Queue[LiveEvent]] = set()

    def publish(
        self,
        type_: str,
        task_id: str | None,
        queue: str | None,
        agent_id: str | None,
        concerns: tuple[str, ...] = (),
    ) -> LiveEvent:
        self._seq += 1
        event = LiveEvent(f"{self.epoch}-{self._seq}", type_, task_id, queue, agent_id, concerns)
        self._buffer.append(event)
        for listener in list(self._listeners):
            with contextlib.suppress(asyncio.QueueFull):  # a stalled page catches up by Last-Event-ID
                listener.put_nowait(event)
        return event

    def reset(self) -> LiveEvent:
        """Every page reloads its panels: what fed the hub was lost for a while, and events may be missing."""
        return self.publish(RESET, None, None, None)

    def since(self, last_event_id: str) -> list[LiveEvent] | None:
        """Events after `last_event_id`; None when it cannot be resumed (another process, or too old)."""
        epoch, _, seq = last_event_id.partition("-")
        if epoch != self.epoch or not seq.isdigit():
            return None
        after = int(seq)
        if after > self._seq or (self._buffer and after < int(self._buffer[0].event_id.split("-")[1]) - 1):
            return None
        return [e for e in self._buffer if int(e.event_id.split("-")[1]) > after]

    def listen(self) -> asyncio.Queue[LiveEvent]:
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue(maxsize=KEEP)
        self._listeners.add(queue)
        return queue

    def leave(self, queue: asyncio.Queue[LiveEvent]) -> None:
        self._listeners.discard(queue)


async def follow_task_events(settings: Settings, hub: Hub) -> None:
    """Runs for the life of the API process; a broker that is down is retried, never fatal to the API."""
    from aiokafka import AIOKafkaConsumer

    dropped = False
    while True:
        consumer = AIOKafkaConsumer(
            TASK_EVENTS.name,
            bootstrap_servers=settings.require_bootstrap(),
            group_id=None,
            auto_offset_reset="latest",
            enable_auto_commit=False,
        )
        try:
            await consumer.start()
            if dropped:  # read from the latest offsets again: what came meanwhile was not seen
                hub.reset()
                dropped = False
            async for record in consumer:
                _publish_record(hub, record.value)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the desk degrades to its own actions until the broker is back
            log.warning("task events not followed; retrying", error=repr(exc))
            dropped = True
            await asyncio.sleep(2)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()


def _publish_record(hub: Hub, value: bytes | None) -> None:
    try:
        event = orjson.loads(value or b"{}")
        payload = event.get("payload") or {}
        hub.publish(
            str(event.get("type", "task")), payload.get("task_id"), payload.get("queue"), payload.get("agent_id")
        )
    except (orjson.JSONDecodeError, AttributeError):
        log.warning("unreadable task event skipped")


_CHANGES = ("/tasks/", "/agents/me/presence")


class LocalChanges:
    """ASGI middleware: a successful POST or PUT to a task or presence route of this process is a live event,
    pushed to this process's pages and handed to ``tell_peers`` for the other API processes' (it only queues: the
    route has answered and committed, and the answer never waits for the other processes).
    A route that moves a task between other agents names them in ``request.state.live_concerns`` (``concern``)."""

    def __init__(self, app: ASGIApp, hub: Hub, tell_peers: Callable[[LiveEvent], None] | None = None) -> None:
        self.app, self.hub, self.tell_peers = app, hub, tell_peers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT") or not scope["path"].startswith(_CHANGES):
            await self.app(scope, receive, send)
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        if 200 <= status < 300:
            state = scope.get("state") or {}
            task_id = (scope.get("path_params") or {}).get("task_id")
            concerns = tuple(state.get("live_concerns", ()))
            event = self.hub.publish("local", task_id, None, state.get("agent_id"), concerns)
            if self.tell_peers is not None:
                self.tell_peers(event)


def concern(request: Request, *agent_ids: str | None) -> None:
    """Name the agents whose desks this request's change concerns besides the actor's (their task panels reload)."""
    request.state.live_concerns = tuple(a for a in agent_ids if a)
