"""`billing agent`: a reference agent tool on the agent API (claim, verify, view, complete; discount, approve,
refuse, resolve), plus the two administrative commands that work on the database directly (create an agent,
set a customer's PIN).

The commands are grouped by subject: the task and call commands here, the money commands (discount, approve,
refuse, resolve) in agent_money_commands.py, the database-side ones (create, revoke, set-pin) in
agent_admin_commands.py, and the HTTP client they share in agent_api_client.py.

The tool reads its token from AGENT_TOKEN and the API's address from API_URL (defaults to API_HOST:API_PORT).
They are the client's, not the server's, so they are options of this command and not service settings.
"""

from __future__ import annotations

import click

from billing.contracts.tasks import Practice, TaskOutcome
from billing.entrypoints.cli.agent_admin_commands import create, revoke, set_pin
from billing.entrypoints.cli.agent_api_client import call, show
from billing.entrypoints.cli.agent_money_commands import approve, discount, refuse, resolve


@click.group("agent")
@click.option("--api-url", envvar="API_URL", default=None, help="Agent API base URL [env API_URL].")
@click.option("--token", envvar="AGENT_TOKEN", default=None, help="Agent token [env AGENT_TOKEN].")
@click.pass_context
def agent(ctx: click.Context, api_url: str | None, token: str | None) -> None:
    """Work the care queues through the agent API (a reference agent tool)."""
    ctx.obj = {"api_url": api_url, "token": token}


@agent.command("queues")
@click.pass_obj
def queues(obj: dict) -> None:
    """Waiting tasks and the oldest wait per queue."""
    show(call(obj, "GET", "/queues"))


@agent.command("claim")
@click.pass_obj
def claim(obj: dict) -> None:
    """Reserve the next task from the queues your role serves."""
    show(call(obj, "POST", "/tasks/claim"))


@agent.command("accept")
@click.argument("task_id")
@click.pass_obj
def accept(obj: dict, task_id: str) -> None:
    """Accept the task you reserved."""
    show(call(obj, "POST", f"/tasks/{task_id}/accept"))


@agent.command("reject")
@click.argument("task_id")
@click.pass_obj
def reject(obj: dict, task_id: str) -> None:
    """Hand the reserved task back to its queue."""
    show(call(obj, "POST", f"/tasks/{task_id}/reject"))


@agent.command("send-code")
@click.argument("call_id")
@click.option("--channel", type=click.Choice(["sms", "email"]), default="sms", show_default=True)
@click.pass_obj
def send_code(obj: dict, call_id: str, channel: str) -> None:
    """Send a one-time code to the caller's contact of record."""
    show(call(obj, "POST", f"/calls/{call_id}/otp", {"channel": channel}))


@agent.command("verify")
@click.argument("call_id")
@click.option("--pin", default=None, help="The PIN the caller gives.")
@click.option("--code", default=None, help="The one-time code the caller reads out.")
@click.pass_obj
def verify(obj: dict, call_id: str, pin: str | None, code: str | None) -> None:
    """Verify the caller on this call with a PIN or a one-time code."""
    body = {"pin": pin} if pin is not None else {"code": code}
    show(call(obj, "POST", f"/calls/{call_id}/verify", body))


@agent.command("view")
@click.argument("task_id")
@click.pass_obj
def view(obj: dict, task_id: str) -> None:
    """The account behind the task (masked until the caller is verified on this call)."""
    show(call(obj, "GET", f"/tasks/{task_id}/account"))


@agent.command("complete")
@click.argument("task_id")
@click.option("--outcome", required=True, type=click.Choice([outcome.value for outcome in TaskOutcome]))
@click.option("--practice", required=True, type=click.Choice([practice.value for practice in Practice]))
@click.option("--discount-minor", default=0, show_default=True, help="Money granted, in minor units.")
@click.pass_obj
def complete(obj: dict, task_id: str, outcome: str, practice: str, discount_minor: int) -> None:
    """Record the outcome and what was done; closes the task."""
    body = {"outcome": outcome, "practice": practice, "discount_minor": discount_minor}
    show(call(obj, "POST", f"/tasks/{task_id}/complete", body))


@agent.command("reassign")
@click.argument("task_id")
@click.argument("agent_id")
@click.pass_obj
def reassign(obj: dict, task_id: str, agent_id: str) -> None:
    """Supervisors: offer a task to AGENT_ID (taken from its holder); they accept it as after a claim."""
    show(call(obj, "POST", f"/tasks/{task_id}/reassign", {"agent_id": agent_id}))


@agent.command("release")
@click.argument("task_id")
@click.pass_obj
def release(obj: dict, task_id: str) -> None:
    """Supervisors: hand a held task back to its queue (it keeps its age)."""
    show(call(obj, "POST", f"/tasks/{task_id}/release"))


for _command in (create, revoke, set_pin, discount, approve, refuse, resolve):
    agent.add_command(_command)


def register(main: click.Group) -> None:
    main.add_command(agent)
