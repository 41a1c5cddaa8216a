"""Account lifecycle payloads."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from billing.contracts.base import (
    AccountId,
    E164Number,
    FrozenModel,
    Identifier,
    Text200,
    UtcDatetime,
)
from billing.contracts.money import CurrencyCode

# Deliberately loose: real validation happens by sending mail. This only
# catches obvious garbage without pulling in the email-validator dependency.
Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Jurisdiction = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")]
# Capped at 28 so every month has the anchor day; no end-of-month drift.
AnchorDay = Annotated[int, Field(strict=True, ge=1, le=28)]


class Contact(FrozenModel):
    """How to reach the account holder: the contact of record (one-time codes go here)."""

    name: Text200
    email: Email | None = None
    phone: E164Number | None = None


class AccountOpened(FrozenModel):
    """A customer account opened in the CRM, with its plan, billing anchor day, currency and jurisdiction."""

    account_id: AccountId
    plan_id: Identifier
    billing_anchor_day: AnchorDay
    currency: CurrencyCode
    jurisdiction: Jurisdiction
    contact: Contact
    opened_at: UtcDatetime


class AccountPlanChanged(FrozenModel):
    """The account moved to another price plan from a given time (billing prorates by day); it replaces any change
    scheduled from that time on."""

    account_id: AccountId
    plan_id: Identifier
    effective_at: UtcDatetime


class ClosureReason(StrEnum):
    VOLUNTARY = "voluntary"
    NON_PAYMENT = "non_payment"
    FRAUD = "fraud"
    OTHER = "other"


class AccountClosed(FrozenModel):
    """The account was closed; its open tasks are cancelled, and retention counts it as churn."""

    account_id: AccountId
    closed_at: UtcDatetime
    reason: ClosureReason
