"""The account as an agent sees it: everything once the caller is verified on this call, a masked card before.

Pure: the facts are read elsewhere (src/billing/accounts/facts.py) and handed in. Before verification the view holds
only the masked name and contact, enough to greet the caller, and none of the account's history (CPNI: no
account information before authentication). After it, every free text is still scrubbed of card numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from billing.identity.rules.masking import mask_email, mask_name, mask_phone, scrub_cards


@dataclass(frozen=True)
class AccountFacts:
    account_id: str
    name: str
    email: str | None
    phone: str | None
    plan_id: str
    status: str
    currency: str
    invoices: tuple[dict[str, Any], ...] = ()
    usage: dict[str, Any] = field(default_factory=dict)
    disputes: tuple[dict[str, Any], ...] = ()
    discounts: tuple[dict[str, Any], ...] = ()
    credit_notes: tuple[dict[str, Any], ...] = ()
    opened_at: datetime | None = None
    plan_version: int | None = None  # the version in force now, when the reader was given the catalog
    # A change scheduled for later ({"plan_id", "effective_at", "summary": "changes to X on <date>"}), or None:
    # plan_id is the plan in force now, never a change that has not taken effect yet.
    plan_pending: dict[str, str] | None = None


@dataclass(frozen=True)
class BillInsight:
    """What the agent is told about the bill beyond the stored facts, worked out by the invoicing context."""

    # The explanation of the latest invoice against the one before (None: no invoice of ours to explain yet).
    explanation: dict[str, Any] | None = None
    # The open cycle so far and its total at the current pace (the plan advisor's forecast).
    open_cycle: dict[str, Any] | None = None
    # What the customer owes: None until payments exist (the collections context records them).
    balance: dict[str, Any] | None = None
    # The plan advisor's cheapest plan and what it would have saved; None when no plan saves anything.
    best_saving: dict[str, Any] | None = None


HISTORY_SECTIONS = (
    "plan_id",
    "plan_version",
    "plan_pending",
    "status",
    "currency",
    "invoices",
    "usage",
    "disputes",
    "discounts",
    "credit_notes",
    "latest_explanation",
    "open_cycle",
    "balance",
    "best_saving",
)


def account_view(facts: AccountFacts, verified: bool, insight: BillInsight | None = None) -> dict[str, Any]:
    if not verified:
        return {
            "account_id": facts.account_id,
            "verified": False,
            "name": mask_name(facts.name),
            "contact": {"email": mask_email(facts.email), "phone": mask_phone(facts.phone)},
            **{section: None for section in HISTORY_SECTIONS},
        }
    # The contact is not scrubbed: a 13-digit phone number looks like a card number and is the caller's own.
    insight = insight or BillInsight()
    return {
        "account_id": facts.account_id,
        "verified": True,
        "name": facts.name,
        "contact": {"email": facts.email, "phone": facts.phone},
        "plan_id": facts.plan_id,
        "plan_version": facts.plan_version,
        "plan_pending": facts.plan_pending,
        "status": facts.status,
        "currency": facts.currency,
        "invoices": scrub_cards(list(facts.invoices)),
        "usage": scrub_cards(facts.usage),
        "disputes": scrub_cards(list(facts.disputes)),
        "discounts": scrub_cards(list(facts.discounts)),
        "credit_notes": scrub_cards(list(facts.credit_notes)),
        "latest_explanation": scrub_cards(insight.explanation),
        "open_cycle": insight.open_cycle,
        "balance": insight.balance,
        "best_saving": insight.best_saving,
    }
