"""Inputs and outputs of discount decisions (see ``decisions``).

Budget accounting: every granted discount is charged to exactly one person's
monthly budget, the person whose authority covered it: the requester when it
was within their own authority, otherwise the approver. Nobody's budget is
charged twice for one grant, and an approved escalation does not eat the
requester's own discretionary budget.

Months are calendar months in UTC; the per-customer window is the trailing
365 days. All datetimes must be timezone-aware.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from billing.discounts.rules.policy import GrantKind, Role

CUSTOMER_WINDOW = timedelta(days=365)


def require_aware(moment: datetime, name: str) -> None:
    # A naive datetime would put grants in the wrong month near midnight.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment!r}")


def utc_month(moment: datetime) -> tuple[int, int]:
    in_utc = moment.astimezone(UTC)
    return in_utc.year, in_utc.month


# Which optional fields each kind needs (True) or must leave empty (False).
_PERCENT_FIELDS = {"amount_minor": False, "percent_bp": True, "invoice_count": True}
_AMOUNT_FIELDS = {"amount_minor": True, "percent_bp": False, "invoice_count": False}
_FIELDS_BY_KIND: Mapping[GrantKind, Mapping[str, bool]] = {
    GrantKind.PERCENT_NEXT_INVOICES: _PERCENT_FIELDS,
    GrantKind.FIXED_NEXT_INVOICE: _AMOUNT_FIELDS,
    GrantKind.CREDIT_NOTE: _AMOUNT_FIELDS,
}


@dataclass(frozen=True)
class GrantRequest:
    request_id: str
    account_id: str
    kind: GrantKind
    currency: str
    amount_minor: int | None = None  # fixed and credit kinds
    percent_bp: int | None = None  # percent kind: 1500 = 15 %
    invoice_count: int | None = None  # percent kind: how many invoices

    def __post_init__(self) -> None:
        for name, required in _FIELDS_BY_KIND[GrantKind(self.kind)].items():
            value = getattr(self, name)
            if (value is not None) != required:
                need = "needs" if required else "must not set"
                raise ValueError(f"{self.request_id}: kind {self.kind} {need} {name}")
            if value is not None and (isinstance(value, bool) or value < 1):
                raise ValueError(f"{self.request_id}: {name} must be positive, got {value!r}")
        if self.percent_bp is not None and self.percent_bp > 10_000:
            raise ValueError(f"{self.request_id}: percent_bp above 100 %: {self.percent_bp}")


@dataclass(frozen=True)
class AgentProfile:
    agent_id: str
    role: Role


@dataclass(frozen=True)
class CustomerStanding:
    account_id: str
    currency: str
    customer_since: datetime
    overdue_invoice_count: int
    average_invoice_minor: int  # expected size of the next invoices

    def __post_init__(self) -> None:
        require_aware(self.customer_since, "customer_since")
        if self.overdue_invoice_count < 0 or self.average_invoice_minor < 0:
            raise ValueError(f"{self.account_id}: counts and amounts must not be negative")

    def tenure_days(self, now: datetime) -> int:
        return (now - self.customer_since).days


@dataclass(frozen=True)
class PastGrant:
    grant_id: str
    agent_id: str  # who asked for it
    account_id: str
    kind: GrantKind
    currency: str
    value_minor: int
    granted_at: datetime
    approved_by: str | None = None  # the second person, when one was needed

    @property
    def charged_to(self) -> str:
        return self.approved_by if self.approved_by is not None else self.agent_id


@dataclass(frozen=True)
class GrantHistory:
    grants: tuple[PastGrant, ...] = ()

    def with_grant(self, grant: PastGrant) -> GrantHistory:
        return GrantHistory((*self.grants, grant))

    def contains(self, grant_id: str) -> bool:
        return any(grant.grant_id == grant_id for grant in self.grants)

    def charged_in_month(self, person_id: str, currency: str, now: datetime) -> int:
        month = utc_month(now)
        return sum(
            grant.value_minor
            for grant in self.grants
            if grant.charged_to == person_id and grant.currency == currency and utc_month(grant.granted_at) == month
        )

    def account_total_since(self, account_id: str, currency: str, since: datetime) -> int:
        return sum(
            grant.value_minor
            for grant in self.grants
            if grant.account_id == account_id and grant.currency == currency and grant.granted_at > since
        )

    def latest_similar(self, account_id: str, kind: GrantKind) -> PastGrant | None:
        similar = [g for g in self.grants if g.account_id == account_id and g.kind == kind]
        return max(similar, key=lambda grant: grant.granted_at, default=None)


@dataclass(frozen=True)
class LimitExcess:
    """One authority limit a grant would break, named as in the policy."""

    limit: str
    limit_minor: int
    would_reach_minor: int

    @property
    def excess_minor(self) -> int:
        return self.would_reach_minor - self.limit_minor

    def describe(self) -> str:
        return (
            f"{self.limit}: would reach {self.would_reach_minor}, limit {self.limit_minor} "
            f"(over by {self.excess_minor})"
        )


@dataclass(frozen=True)
class PendingGrant:
    """A request above its requester's authority, waiting for a second person."""

    request: GrantRequest
    requested_by: AgentProfile
    customer: CustomerStanding  # snapshot used to value and re-check the grant
    value_minor: int
    requested_at: datetime


@dataclass(frozen=True)
class Approved:
    grant: PastGrant  # append to the history; it is what was decided


@dataclass(frozen=True)
class NeedsApproval:
    pending: PendingGrant
    exceeded: tuple[LimitExcess, ...]


@dataclass(frozen=True)
class Refused:
    rule: str  # policy name of the rule that refused
    reason: str  # starts with the rule name, e.g. "min_tenure_days: ..."


Decision = Approved | NeedsApproval | Refused
