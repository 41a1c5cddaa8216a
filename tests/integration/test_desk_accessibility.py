"""Accessibility of the desk, the sign-in page and the wall, checked with a tool: axe-core 4.14.1 (Deque's rules
for WCAG 2.x A and AA and best practices; MPL-2.0, vendored under tests/integration/vendor/ so no run downloads
it) runs in headless Chromium on each page in the states people use it in: signed out, an agent's desk with a
verified caller and the invoice document open, a supervisor's wall. Any violation, whatever its impact, fails
with the rule, the elements and axe's one-line help. (Its first run found one: the invoice's "Document" button
was named "Show invoice ..." for screen readers, so a voice user saying "Document" could not reach it.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from billing.care.lifecycle import make_task_id
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.identity.agent_store import create_agent, set_account_pin
from billing.identity.rules.roles import Role
from billing.platform.context import create_pool
from tests.integration.agent_api_helpers import PIN, call_started, customer, publish_customer
from tests.integration.browser import Browser
from tests.integration.conftest import own_stack
from tests.integration.helpers import unique

pytestmark = pytest.mark.integration

AXE = (Path(__file__).parent / "vendor" / "axe-4.14.1.min.js").read_text()
_RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})
  .then(r => done(r.violations.map(v => ({
      rule: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))))
  .catch(e => done([{rule: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));
"""


def violations(page: Browser) -> list[dict]:
    """axe's violations on the page as it is now (injected through the driver: the pages' CSP allows no inline
    script, and a script the driver evaluates is not the page's)."""
    page.driver.execute_script(AXE)
    page.driver.set_script_timeout(60)
    return list(page.driver.execute_async_script(_RUN_AXE))


def assert_accessible(page: Browser, where: str) -> None:
    found = violations(page)
    assert not found, f"{where}: {found}"


@pytest.fixture(scope="module")
def live():
    with own_stack("a11y", api=True) as launcher:
        yield launcher.settings


async def test_the_desk_the_sign_in_page_and_the_wall_pass_axe(live) -> None:
    pool = await create_pool(live)
    agent = Browser(f"http://{live.api_host}:{live.api_port}")
    wall = Browser(f"http://{live.api_host}:{live.api_port}")
    try:
        _, agent_token = await create_agent(pool, unique("Ana"), Role.AGENT)
        _, sue_token = await create_agent(pool, unique("Sue"), Role.SUPERVISOR)
        account, invoice_id, call_id = unique("acc"), unique("inv"), unique("call")
        now = datetime.now(UTC)
        await publish_customer(live, pool, account, customer(account, invoice_id, now))
        await set_account_pin(pool, account, PIN)

        agent.open("/signin")
        agent.until(lambda d: agent.css("#token"))
        assert_accessible(agent, "sign-in page")

        agent.sign_in(agent_token)
        agent.click("#presence button[value=available]")
        await publish(live.require_bootstrap(), [record_of(call_started(account, call_id, invoice_id, now))])
        task_id = make_task_id("call", call_id)
        agent.until(lambda d: agent.css(f"li[data-task-id='{task_id}']"), 30)
        assert_accessible(agent, "desk with a call waiting")

        agent.click("button[data-key=n]")  # next task: reserved for this agent
        agent.until(lambda d: agent.css(f".task[data-task-id='{task_id}'][data-state=reserved]"))
        agent.click("button[data-key=a]")  # accept: the caller's verification opens
        agent.until(lambda d: agent.css("#pin"))
        agent.fill("#pin", PIN)
        agent.click("#pin ~ button")
        agent.until(lambda d: agent.css("[data-table=invoices]"))
        agent.click("[data-testid=show-invoice]")
        agent.until(lambda d: agent.css("[data-testid=invoice-doc] [data-testid=explanation]"))
        assert_accessible(agent, "desk with a verified caller and the invoice open")

        wall.sign_in(sue_token)
        wall.until(lambda d: wall.css("#wall-performance"))
        assert_accessible(wall, "supervisor's wall")
    finally:
        agent.close()
        wall.close()
        await pool.close()
