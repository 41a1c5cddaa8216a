"""The in-process agent API with a clock of the test's own, and the tasks it works on, shared by the hold and
supervision scenarios (tests/integration/test_task_holds.py, test_task_supervision.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import httpx
import pytest

from billing.care.lifecycle import NewTask, insert_task, make_task_id
from billing.contracts import parse_event
from billing.entrypoints.api.app import create_app
from billing.platform.context import create_pool
from billing.platform.topics import TASK_EVENTS
from tests.integration.helpers import unique


class Clock:
    """The API's clock, set by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def api(live):
    queue, side = unique("holdq"), unique("supq")  # `side` is served by supervisors only
    settings = live.model_copy(
        update={"agent_role_queues": f"agent={queue};tier2={queue};supervisor={queue},{side};analyst="}
    )
    clock = Clock()
    app = create_app(settings, clock)
    pool = await create_pool(settings)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    yield SimpleNamespace(app=app, client=client, pool=pool, clock=clock, queue=queue, side=side, settings=settings)
    await client.aclose()
    await app.state.services.close()
    await pool.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def routed(pool, queue: str, at: datetime, conn=None):
    call_id = unique("call")
    new = NewTask(
        task_id=make_task_id("call", call_id),
        kind="call",
        source_event_id=unique("evt"),
        account_id=unique("acc"),
        reason="bill_question",
        rule="default",
        queue=queue,
        tier=1,
        static_priority=10,
        priority=10,
        routed_at=at,
        call_id=call_id,
        currency="EUR",
    )
    if conn is not None:
        return await insert_task(conn, new)
    async with pool.acquire() as own, own.transaction():
        return await insert_task(own, new)


async def task_events(pool, task_id: str, kind: str):
    rows = await pool.fetch(
        "SELECT value FROM outbox WHERE topic = $1 AND convert_from(value, 'UTF8') LIKE $2 ORDER BY id",
        TASK_EVENTS.name,
        f"%{task_id}%",
    )
    return [e for e in (parse_event(bytes(r["value"])) for r in rows) if e.type == f"task.{kind}.v1"]
