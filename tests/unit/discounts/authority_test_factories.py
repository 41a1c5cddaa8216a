"""Shared builders for the authority unit tests (plain functions, no fixtures).

The test policy uses round EUR limits so the hand calculations stay readable;
it is not the default policy.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from billing.discounts.rules.grants import (
    AgentProfile,
    CustomerStanding,
    GrantHistory,
    GrantRequest,
    PastGrant,
)
from billing.discounts.rules.policy import AuthorityPolicy, GrantKind, Role

ANN = AgentProfile("ann", Role.AGENT)
BOB = AgentProfile("bob", Role.AGENT)
TOM = AgentProfile("tom", Role.TIER2)
TIA = AgentProfile("tia", Role.TIER2)
SUE = AgentProfile("sue", Role.SUPERVISOR)


def utc(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


NOW = utc(2026, 11, 15)


def role(per_grant: int, monthly: int, per_customer: int, approves: bool) -> dict[str, Any]:
    return {
        "max_per_grant_minor": per_grant,
        "monthly_budget_minor": monthly,
        "max_per_customer_12m_minor": per_customer,
        "can_approve_others": approves,
    }


def policy_dict() -> dict[str, Any]:
    return {
        "authority": {
            "EUR": {
                "agent": role(1_000, 3_000, 2_000, approves=False),
                "tier2": role(5_000, 10_000, 8_000, approves=True),
                "supervisor": role(20_000, 50_000, 30_000, approves=True),
            }
        },
        "eligibility": {
            "percent_next_invoices": {
                "min_tenure_days": 180,
                "good_standing_required": True,
                "no_similar_discount_within_days": 90,
                "max_percent_bp": 2_000,
                "max_invoice_count": 6,
            },
            "fixed_next_invoice": {
                "min_tenure_days": 90,
                "good_standing_required": True,
                "no_similar_discount_within_days": 60,
            },
            "credit_note": {
                "min_tenure_days": 0,
                "good_standing_required": False,
                "no_similar_discount_within_days": 0,
            },
        },
    }


POLICY = AuthorityPolicy.from_dict(policy_dict())


def customer(
    account_id: str = "acc-1",
    tenure_days: int = 400,
    overdue: int = 0,
    average_invoice_minor: int = 4_000,
    currency: str = "EUR",
) -> CustomerStanding:
    return CustomerStanding(
        account_id=account_id,
        currency=currency,
        customer_since=NOW - timedelta(days=tenure_days),
        overdue_invoice_count=overdue,
        average_invoice_minor=average_invoice_minor,
    )


def fixed(amount: int, request_id: str = "req-1", account_id: str = "acc-1", currency: str = "EUR") -> GrantRequest:
    return GrantRequest(request_id, account_id, GrantKind.FIXED_NEXT_INVOICE, currency, amount_minor=amount)


def credit(amount: int, request_id: str = "req-1", account_id: str = "acc-1") -> GrantRequest:
    return GrantRequest(request_id, account_id, GrantKind.CREDIT_NOTE, "EUR", amount_minor=amount)


def percent(bp: int, invoices: int, request_id: str = "req-1", account_id: str = "acc-1") -> GrantRequest:
    return GrantRequest(
        request_id, account_id, GrantKind.PERCENT_NEXT_INVOICES, "EUR", percent_bp=bp, invoice_count=invoices
    )


def past(
    value: int,
    granted_at: datetime,
    agent_id: str = "ann",
    account_id: str = "acc-9",
    kind: GrantKind = GrantKind.FIXED_NEXT_INVOICE,
    approved_by: str | None = None,
    grant_id: str | None = None,
) -> PastGrant:
    return PastGrant(
        grant_id or f"old-{value}-{granted_at:%Y%m%d%H%M}",
        agent_id,
        account_id,
        kind,
        "EUR",
        value,
        granted_at,
        approved_by,
    )


def history(*grants: PastGrant) -> GrantHistory:
    return GrantHistory(tuple(grants))
