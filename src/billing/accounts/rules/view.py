"""The account as an agent sees it: everything once the caller is verified on this call, a masked card before.

Pure: the facts are read elsewhere (src/billing/accounts/store.py) and handed in. Before verification the view holds
only the masked name and contact, enough to greet the caller, and none of the account's history (CPNI: no
account information before authentication). After it, every free text is still scrubbed of card numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from billing.identity.rules.masking import mask_card_numbers, mask_email, mask_name, mask_phone


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


HISTORY_SECTIONS = ("plan_id", "status", "currency", "invoices", "usage", "disputes", "discounts")


def account_view(facts: AccountFacts, verified: bool) -> dict[str, Any]:
    if not verified:
        return {
            "account_id": facts.account_id,
            "verified": False,
            "name": mask_name(facts.name),
            "contact": {"email": mask_email(facts.email), "phone": mask_phone(facts.phone)},
            **{section: None for section in HISTORY_SECTIONS},
        }
    # The contact is not scrubbed: a 13-digit phone number looks like a card number and is the caller's own.
    return {
        "account_id": facts.account_id,
        "verified": True,
        "name": facts.name,
        "contact": {"email": facts.email, "phone": facts.phone},
        "plan_id": facts.plan_id,
        "status": facts.status,
        "currency": facts.currency,
        "invoices": scrub_cards(list(facts.invoices)),
        "usage": scrub_cards(facts.usage),
        "disputes": scrub_cards(list(facts.disputes)),
        "discounts": scrub_cards(list(facts.discounts)),
    }


def scrub_cards(value: Any) -> Any:
    """Every string anywhere in the structure with card numbers cut to their last 4 digits."""
    if isinstance(value, str):
        return mask_card_numbers(value)
    if isinstance(value, dict):
        return {key: scrub_cards(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_cards(item) for item in value]
    return value
