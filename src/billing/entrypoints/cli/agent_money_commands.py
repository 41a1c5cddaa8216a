"""`billing agent discount | approve | refuse | resolve`: the agent commands that move money.

Each sends the Idempotency-Key the API requires: `--idempotency-key`, or a new key per invocation, printed on
stderr, so that a command that failed half-way (a timeout) is retried with the same key and never grants or
credits twice. agent_commands.py adds them to the `agent` group.
"""

from __future__ import annotations

from typing import Any

import click

from billing.contracts.disputes import DisputeOutcome
from billing.discounts.rules.policy import GrantKind
from billing.entrypoints.cli.agent_api_client import call, key_or_new, show

_KEY_OPTION = click.option(
    "--idempotency-key",
    default=None,
    help="Idempotency-Key to send; default: a new one, printed on stderr. Repeat it to retry the same action.",
)


@click.command("discount")
@click.argument("task_id")
@click.option("--kind", required=True, type=click.Choice([kind.value for kind in GrantKind]))
@click.option("--amount-minor", type=int, default=None, help="Fixed and credit_note kinds, minor units.")
@click.option("--percent-bp", type=int, default=None, help="Percent kind: 1500 = 15 %.")
@click.option("--invoice-count", type=int, default=None, help="Percent kind: how many invoices.")
@click.option("--invoice-id", default=None, help="credit_note kind: the invoice to credit.")
@click.option("--reason-code", required=True)
@click.option("--criterion", "criteria", multiple=True, required=True, help="What made the customer eligible.")
@_KEY_OPTION
@click.pass_obj
def discount(
    obj: dict,
    task_id: str,
    kind: str,
    amount_minor: int | None,
    percent_bp: int | None,
    invoice_count: int | None,
    invoice_id: str | None,
    reason_code: str,
    criteria: tuple[str, ...],
    idempotency_key: str | None,
) -> None:
    """Grant a discount within your authority, or ask for a second person's approval above it."""
    body = {
        "kind": kind,
        "amount_minor": amount_minor,
        "percent_bp": percent_bp,
        "invoice_count": invoice_count,
        "invoice_id": invoice_id,
        "reason_code": reason_code,
        "criteria": list(criteria),
    }
    body = {name: value for name, value in body.items() if value is not None}
    show(call(obj, "POST", f"/tasks/{task_id}/discounts", body, key=key_or_new(idempotency_key)))


@click.command("approve")
@click.argument("task_id")
@_KEY_OPTION
@click.pass_obj
def approve(obj: dict, task_id: str, idempotency_key: str | None) -> None:
    """Approve the discount (or dispute credit) of the approval task you hold."""
    show(call(obj, "POST", f"/tasks/{task_id}/approve", key=key_or_new(idempotency_key)))


@click.command("refuse")
@click.argument("task_id")
@click.option("--reason", required=True, help="Why, for the requester.")
@_KEY_OPTION
@click.pass_obj
def refuse(obj: dict, task_id: str, reason: str, idempotency_key: str | None) -> None:
    """Turn down the discount (or dispute credit) of the approval task you hold."""
    show(call(obj, "POST", f"/tasks/{task_id}/refuse", key=key_or_new(idempotency_key), params={"reason": reason}))


@click.command("resolve")
@click.argument("task_id")
@click.argument("dispute_id")
@click.option("--outcome", required=True, type=click.Choice([outcome.value for outcome in DisputeOutcome]))
@click.option("--credit-minor", type=int, default=None, help="The credit, minor units (credited only).")
@click.option("--reason", required=True)
@_KEY_OPTION
@click.pass_obj
def resolve(
    obj: dict,
    task_id: str,
    dispute_id: str,
    outcome: str,
    credit_minor: int | None,
    reason: str,
    idempotency_key: str | None,
) -> None:
    """Reject a dispute on the task's account, or credit it (above your authority: an approval task)."""
    body: dict[str, Any] = {"outcome": outcome, "reason": reason}
    if credit_minor is not None:
        body["credit_minor"] = credit_minor
    show(call(obj, "POST", f"/tasks/{task_id}/disputes/{dispute_id}/resolve", body, key=key_or_new(idempotency_key)))
