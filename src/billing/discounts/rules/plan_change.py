"""The authority over plan changes: how much a person may lower what the customer pays each month.

A cheaper plan pays the customer back every month, as a discount does, so it is bounded by the same authority
policy (src/billing/discounts/rules/policy.py): ``max_plan_change_reduction_minor`` per role and currency, the most
one plan change may lower the account's monthly recurring fee, in minor units of the account's currency. An
upgrade, or a change within the limit, goes through. A currency the policy has no authority for gives every role a
limit of 0 (no downgrade at all).

Above the person's limit the change goes to a second person, as a discount above authority does
(``plan_change_decision``): it waits for approval when a role that may approve others' requests has a limit that
covers it, and is refused, naming the limit, when none has (an approval could never be given). The approver
(``approval_refusal``) must be a different person, in a role that may approve others' requests, whose own limit
covers the change; whoever may approve it may also decline it (``decline_refusal``), the rules of
``decisions.second_person_refusal``.

Pure: the route values the change (src/billing/accounts/rules/plan_change.py ``recurring_charge_change``).
"""

from __future__ import annotations

from dataclasses import dataclass

from billing.discounts.rules.decisions import second_person_refusal
from billing.discounts.rules.grants import AgentProfile, LimitExcess, Refused
from billing.discounts.rules.policy import ROLES_BY_SENIORITY, AuthorityPolicy, Role

LIMIT = "max_plan_change_reduction_minor"
SENT = "sent to a supervisor for approval"


@dataclass(frozen=True)
class NeedsApproval:
    """Above the requester's limit, within the limit of a role that may approve it: it waits for that person."""

    excess: LimitExcess
    reason: str  # starts with the limit's name, ends with who may approve it


def reduction_limit(policy: AuthorityPolicy, currency: str, role: Role) -> int:
    """The most a person in ``role`` may lower an account's monthly recurring fee in ``currency``."""
    if not policy.supports(currency):
        return 0
    return policy.authority_for(currency, role).max_plan_change_reduction_minor


def plan_change_refusal(policy: AuthorityPolicy, currency: str, role: Role, reduction_minor: int) -> Refused | None:
    """None when a person in ``role`` may make a plan change lowering the monthly recurring fee by
    ``reduction_minor`` (0 or negative: not lowered at all); otherwise the refusal naming the limit."""
    limit = reduction_limit(policy, currency, role)
    if reduction_minor <= limit:
        return None
    able = [str(other) for other in ROLES_BY_SENIORITY if reduction_minor <= reduction_limit(policy, currency, other)]
    who = f"a {' or '.join(able)} must make it" if able else "no role's authority covers it"
    return Refused(LIMIT, f"{_above(policy, currency, role, reduction_minor)}; {who}")


def plan_change_decision(
    policy: AuthorityPolicy, currency: str, role: Role, reduction_minor: int
) -> NeedsApproval | Refused | None:
    """None: the person makes the change. NeedsApproval: above their limit, a second person may approve it.
    Refused: no role that may approve others' requests has a limit covering it."""
    refused = plan_change_refusal(policy, currency, role, reduction_minor)
    if refused is None:
        return None
    approvers = [str(other) for other in ROLES_BY_SENIORITY if _may_approve(policy, currency, other, reduction_minor)]
    if not approvers:
        return refused
    excess = LimitExcess(LIMIT, reduction_limit(policy, currency, role), reduction_minor)
    reason = f"{_above(policy, currency, role, reduction_minor)}; {SENT} (a {' or '.join(approvers)} may approve it)"
    return NeedsApproval(excess, reason)


def approval_refusal(
    policy: AuthorityPolicy, currency: str, requester_id: str, approver: AgentProfile, reduction_minor: int
) -> Refused | None:
    """Why ``approver`` may not approve a plan change ``requester_id`` asked for, lowering the monthly fee by
    ``reduction_minor``: their own request, a role that may not approve others', or a limit below it."""
    if not policy.supports(currency):
        return plan_change_refusal(policy, currency, approver.role, reduction_minor)
    person = second_person_refusal(requester_id, currency, approver, policy)
    if person is not None or reduction_minor <= reduction_limit(policy, currency, approver.role):
        return person
    above = _above(policy, currency, approver.role, reduction_minor)
    return Refused(LIMIT, f"{above}; approver {approver.agent_id} lacks the authority to approve it")


def decline_refusal(policy: AuthorityPolicy, currency: str, requester_id: str, person: AgentProfile) -> Refused | None:
    """Why ``person`` may not decline the request: only a second person who may approve others' requests may."""
    if not policy.supports(currency):
        return Refused("can_approve_others", f"can_approve_others: no authority is configured for {currency}")
    return second_person_refusal(requester_id, currency, person, policy, "refuse")


def _may_approve(policy: AuthorityPolicy, currency: str, role: Role, reduction_minor: int) -> bool:
    if not policy.supports(currency):
        return False
    authority = policy.authority_for(currency, role)
    return authority.can_approve_others and reduction_minor <= authority.max_plan_change_reduction_minor


def _above(policy: AuthorityPolicy, currency: str, role: Role, reduction_minor: int) -> str:
    limit = reduction_limit(policy, currency, role)
    return (
        f"{LIMIT}: the change lowers the monthly recurring fee by {reduction_minor} {currency} minor units, above"
        f" the {role} limit of {limit} (over by {reduction_minor - limit})"
    )
