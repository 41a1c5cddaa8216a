"""The authority over plan changes: how much an agent may lower what the customer pays each month.

A cheaper plan pays the customer back every month, as a discount does, so it is bounded by the same authority
policy (src/billing/discounts/rules/policy.py): ``max_plan_change_reduction_minor`` per role and currency, the most
one plan change may lower the account's monthly recurring fee, in minor units of the account's currency. An
upgrade, or a change within the limit, goes through. Above it the person is refused, and the refusal names the
limit and the roles whose limit covers the change: a supervisor (or tier 2) holding the customer's task makes it.
A currency the policy has no authority for gives every role a limit of 0 (no downgrade at all).

A refusal rather than an approval task: the discount approvals carry a discount (its kind, value, budget charge and
discount.granted.v1); a plan change has none of those, and approving one would publish a different event.

Pure: the route values the change (src/billing/accounts/rules/plan_change.py ``recurring_charge_change``).
"""

from __future__ import annotations

from billing.discounts.rules.grants import LimitExcess, Refused
from billing.discounts.rules.policy import ROLES_BY_SENIORITY, AuthorityPolicy, Role

LIMIT = "max_plan_change_reduction_minor"


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
    excess = LimitExcess(LIMIT, limit, reduction_minor)
    able = [str(other) for other in ROLES_BY_SENIORITY if reduction_minor <= reduction_limit(policy, currency, other)]
    who = f"a {' or '.join(able)} must make it" if able else "no role's authority covers it"
    return Refused(
        LIMIT,
        f"{LIMIT}: the change lowers the monthly recurring fee by {reduction_minor} {currency} minor units, above"
        f" the {role} limit of {limit} (over by {excess.excess_minor}); {who}",
    )
