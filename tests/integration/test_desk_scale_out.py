"""Two agent API processes on one stack, as behind a load balancer: an agent's desk in headless Chromium is
connected to process B while another agent and a supervisor act through process A. A claim made through A takes
the call off the desk on B, and a reassignment made through A offers the task on the desk on B, both pushed over
B's event stream without a reload. Before the relay between API processes (docs/desk.md, "Across API processes")
only the desks on A were told, and each step timed out."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from billing.care.lifecycle import make_task_id
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.identity.agent_store import create_agent
from billing.identity.rules.roles import Role
from billing.platform.context import create_pool
from tests.integration.agent_api_helpers import call_started, customer, publish_customer
from tests.integration.browser import Browser
from tests.integration.conftest import own_stack
from tests.integration.helpers import unique

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def two_apis():
    """A stack of its own (its queues hold only this module's call) with the launcher's API process (A) and a
    second one started the same way on another free port (B)."""
    with own_stack("scale-out", api=True) as launcher:
        port_b = launcher.start_another_api()
        settings = launcher.settings
        yield settings, f"http://{settings.api_host}:{settings.api_port}", f"http://{settings.api_host}:{port_b}"


async def test_a_claim_and_a_reassignment_made_through_one_api_process_reach_a_desk_on_another(two_apis) -> None:
    live, api_a, api_b = two_apis
    pool = await create_pool(live)
    desk: Browser | None = None
    try:
        _, ana_token = await create_agent(pool, unique("Ana"), Role.AGENT)
        bo, bo_token = await create_agent(pool, unique("Bo"), Role.AGENT)
        _, sue_token = await create_agent(pool, unique("Sue"), Role.SUPERVISOR)
        account, invoice_id, call_id = unique("acc"), unique("inv"), unique("call")
        now = datetime.now(UTC)
        await publish_customer(live, pool, account, customer(account, invoice_id, now))

        desk = Browser(api_b)  # Bo's desk, on process B
        desk.sign_in(bo_token)
        desk.click("#presence button[value=available]")
        desk.until(lambda d: desk.css("[data-testid=presence]") and "available" in desk.text("[data-testid=presence]"))
        await publish(live.require_bootstrap(), [record_of(call_started(account, call_id, invoice_id, now))])
        task_id = make_task_id("call", call_id)
        queued = f"li[data-task-id='{task_id}']"
        desk.until(lambda d: desk.css(queued), 10)  # the workers' task.routed.v1, read by B from the topic
        desk.until(lambda d: desk.css("#task form[hx-post='/desk/act/claim']"))  # Bo holds nothing
        desk.driver.execute_script("window.notReloaded = true")  # a mark a reload would wipe

        async with httpx.AsyncClient(base_url=api_a, timeout=30) as a:
            claimed = await a.post("/tasks/claim", headers={"Authorization": f"Bearer {ana_token}"})
            assert claimed.status_code == 200, claimed.text
            assert claimed.json()["task"]["task_id"] == task_id
            # A claim publishes no task event: only process A's change, relayed to B, can take it off Bo's desk.
            desk.until(lambda d: not desk.css(queued), 5)

            moved = await a.post(
                f"/tasks/{task_id}/reassign",
                json={"agent_id": bo.agent_id},
                headers={"Authorization": f"Bearer {sue_token}"},
            )
            assert moved.status_code == 200, moved.text
        # Offered to Bo on his desk on B: its task panel re-renders by itself (no task event names Bo).
        desk.until(lambda d: desk.css(f".task[data-task-id='{task_id}'][data-state=reserved]"), 5)
        assert desk.driver.execute_script("return window.notReloaded === true")
    finally:
        if desk is not None:
            desk.close()
        await pool.close()
