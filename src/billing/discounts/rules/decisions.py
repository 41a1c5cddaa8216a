"""Deciding discount requests: approve, escalate to a second person, or refuse.

``decide`` runs the eligibility rules, values the grant, and compares it with
the requester's authority (per grant, their monthly budget, and the account's
trailing-12-month total). Within authority it is ``Approved`` and charged to
the requester; above it, ``NeedsApproval`` lists every limit exceeded and by
how much; beyond even the most senior role's fixed limits it is ``Refused``,
since no approval could ever cover it.

``approve`` is dual authorization: the approver must be a different person,
their role must be allowed to approve, the grant must still be eligible, and
their own authority must cover it; the grant is then charged to them.
``decider_refusal`` holds the rules about the person, which refusing a pending
grant follows too: only someone who could approve it may turn it down.

A dispute credit is a ``credit_note`` grant decided by these same two functions; ``opener_refusal`` adds the
one rule of its own: whoever opened the dispute may credit it, as resolver or approver, only up to the policy's
``max_credit_by_opener_minor``.

Money value of a grant (``grant_value_minor``):
* fixed and credit kinds: the amount;
* percent kind: ``percent_bp / 10000 * average_invoice_minor * invoice_count``
  rounded once, half up, through the billing money rule
  (``billing.money.percent_of``). It is an estimate of what the
  discount will cost, since future invoices are not known yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from billing.discounts.rules.eligibility import EligibilityCase, first_refusal
from billing.discounts.rules.grants import (
    CUSTOMER_WINDOW,
    AgentProfile,
    Approved,
    CustomerStanding,
    Decision,
    GrantHistory,
    GrantRequest,
    LimitExcess,
    NeedsApproval,
    PastGrant,
    PendingGrant,
    Refused,
    require_aware,
)
from billing.discounts.rules.policy import AuthorityPolicy, GrantKind, RoleAuthority
from billing.money import percent_of


def _required(value: int | None) -> int:
    """A field the grant's kind requires; GrantRequest refuses to exist without it, so None here is a bug."""
    if value is None:
        raise ValueError("a field the grant's kind requires is missing")
    return value


_VALUE_BY_KIND: Mapping[GrantKind, Callable[[GrantRequest, CustomerStanding], int]] = {
    GrantKind.PERCENT_NEXT_INVOICES: lambda request, customer: percent_of(
        customer.average_invoice_minor * _required(request.invoice_count), _required(request.percent_bp)
    ),
    GrantKind.FIXED_NEXT_INVOICE: lambda request, _customer: _required(request.amount_minor),
    GrantKind.CREDIT_NOTE: lambda request, _customer: _required(request.amount_minor),
}


def grant_value_minor(request: GrantRequest, customer: CustomerStanding) -> int:
    return _VALUE_BY_KIND[request.kind](request, customer)


def authority_excesses(
    authority: RoleAuthority, value_minor: int, charged_this_month: int, account_12m_total: int
) -> tuple[LimitExcess, ...]:
    """Every limit of ``authority`` that granting ``value_minor`` would break."""
    would_reach = (
        ("max_per_grant_minor", authority.max_per_grant_minor, value_minor),
        ("monthly_budget_minor", authority.monthly_budget_minor, charged_this_month + value_minor),
        (
            "max_per_customer_12m_minor",
            authority.max_per_customer_12m_minor,
            account_12m_total + value_minor,
        ),
    )
    return tuple(
        LimitExcess(limit, limit_minor, reached) for limit, limit_minor, reached in would_reach if reached > limit_minor
    )


def decide(
    request: GrantRequest,
    agent: AgentProfile,
    history: GrantHistory,
    customer: CustomerStanding,
    policy: AuthorityPolicy,
    now: datetime,
) -> Decision:
    _check_request_inputs(request, customer, now)
    refusal = _already_decided(request, history) or first_refusal(
        EligibilityCase(request, customer, history, policy, now)
    )
    if refusal is not None:
        return refusal
    value = grant_value_minor(request, customer)
    excesses = _person_excesses(agent, request, value, history, policy, now)
    if not excesses:
        return Approved(_granted(request, agent.agent_id, value, now, approved_by=None))
    unreachable = _beyond_any_authority(request, value, history, policy, now)
    if unreachable is not None:
        return unreachable
    pending = PendingGrant(request, agent, customer, value, requested_at=now)
    return NeedsApproval(pending, excesses)


def approve(
    pending: PendingGrant,
    approver: AgentProfile,
    history: GrantHistory,
    policy: AuthorityPolicy,
    now: datetime,
) -> Approved | Refused:
    require_aware(now, "now")
    request = pending.request
    refusal = _approval_refusal(pending, approver, history, policy, now)
    if refusal is not None:
        return refusal
    excesses = _person_excesses(approver, request, pending.value_minor, history, policy, now)
    if excesses:
        first = excesses[0]
        details = "; ".join(excess.describe() for excess in excesses)
        reason = f"{first.limit}: approver {approver.agent_id} lacks authority: {details}"
        return Refused(first.limit, reason)
    requester_id = pending.requested_by.agent_id
    return Approved(_granted(request, requester_id, pending.value_minor, now, approver.agent_id))


def opener_refusal(
    credit_minor: int, currency: str, person_id: str, opened_by: str | None, policy: AuthorityPolicy
) -> Refused | None:
    """None unless ``person_id`` opened the dispute and ``credit_minor`` is above what an opener may credit."""
    limit = policy.max_credit_by_opener(currency)
    if opened_by is None or person_id != opened_by or credit_minor <= limit:
        return None
    rule = "max_credit_by_opener_minor"
    return Refused(
        rule,
        f"{rule}: {person_id} opened this dispute, so may credit at most {limit} on it, not"
        f" {credit_minor}; someone else must decide this credit",
    )


def decider_refusal(
    pending: PendingGrant, person: AgentProfile, policy: AuthorityPolicy, verb: str = "approve"
) -> Refused | None:
    """The rules about who may decide a pending grant, approving or refusing it (``verb``): a different person
    from the requester, in a role allowed to decide others' grants. None when ``person`` may decide."""
    return second_person_refusal(pending.requested_by.agent_id, pending.request.currency, person, policy, verb)


def second_person_refusal(
    requester_id: str, currency: str, person: AgentProfile, policy: AuthorityPolicy, verb: str = "approve"
) -> Refused | None:
    """``decider_refusal`` for any request waiting for a second person (a grant, a plan change): who asked for it,
    and in which currency's authority. None when ``person`` may decide it."""
    return _own_request(requester_id, person, verb) or _role_cannot_decide(currency, person, policy, verb)


def _own_request(requester_id: str, person: AgentProfile, verb: str) -> Refused | None:
    if person.agent_id != requester_id:
        return None
    rule = "separation_of_duties"
    return Refused(rule, f"{rule}: {person.agent_id} cannot {verb} their own request")


def _role_cannot_decide(currency: str, person: AgentProfile, policy: AuthorityPolicy, verb: str) -> Refused | None:
    if policy.authority_for(currency, person.role).can_approve_others:
        return None
    rule = "can_approve_others"
    return Refused(rule, f"{rule}: role {person.role} may not {verb} others' grants")


def _approval_refusal(
    pending: PendingGrant,
    approver: AgentProfile,
    history: GrantHistory,
    policy: AuthorityPolicy,
    now: datetime,
) -> Refused | None:
    # decider_refusal's two rules, with the eligibility between them: the order in which refusals are reported.
    request = pending.request
    case = EligibilityCase(request, pending.customer, history, policy, now)
    return (
        _already_decided(request, history)
        or _own_request(pending.requested_by.agent_id, approver, "approve")
        or first_refusal(case)
        or _role_cannot_decide(request.currency, approver, policy, "approve")
    )


def _already_decided(request: GrantRequest, history: GrantHistory) -> Refused | None:
    # Requests are retried by at-least-once delivery; granting twice would
    # double the discount, so a known grant id is refused, not re-granted.
    if not history.contains(request.request_id):
        return None
    return Refused("already_decided", f"already_decided: {request.request_id} was already granted")


def _person_excesses(
    person: AgentProfile,
    request: GrantRequest,
    value: int,
    history: GrantHistory,
    policy: AuthorityPolicy,
    now: datetime,
) -> tuple[LimitExcess, ...]:
    authority = policy.authority_for(request.currency, person.role)
    charged = history.charged_in_month(person.agent_id, request.currency, now)
    account_total = _account_12m_total(request, history, now)
    return authority_excesses(authority, value, charged, account_total)


def _beyond_any_authority(
    request: GrantRequest,
    value: int,
    history: GrantHistory,
    policy: AuthorityPolicy,
    now: datetime,
) -> Refused | None:
    # The most senior role with an untouched budget is the best any approver
    # can offer; if even that is exceeded, an approval task would be futile.
    top_role, top_authority = policy.highest_authority(request.currency)
    account_total = _account_12m_total(request, history, now)
    excesses = authority_excesses(top_authority, value, 0, account_total)
    if not excesses:
        return None
    first = excesses[0]
    details = "; ".join(excess.describe() for excess in excesses)
    return Refused(first.limit, f"{first.limit}: beyond even {top_role} authority: {details}")


def _account_12m_total(request: GrantRequest, history: GrantHistory, now: datetime) -> int:
    since = now - CUSTOMER_WINDOW
    return history.account_total_since(request.account_id, request.currency, since)


def _granted(request: GrantRequest, agent_id: str, value: int, now: datetime, approved_by: str | None) -> PastGrant:
    return PastGrant(
        grant_id=request.request_id,
        agent_id=agent_id,
        account_id=request.account_id,
        kind=request.kind,
        currency=request.currency,
        value_minor=value,
        granted_at=now,
        approved_by=approved_by,
    )


def _check_request_inputs(request: GrantRequest, customer: CustomerStanding, now: datetime) -> None:
    # Mismatched inputs are a caller bug, not a business refusal.
    require_aware(now, "now")
    if customer.account_id != request.account_id:
        raise ValueError(f"standing is for {customer.account_id}, request for {request.account_id}")
    if customer.currency != request.currency:
        raise ValueError(f"standing is in {customer.currency}, request in {request.currency}")
