"""Replaying random request/approval sequences never breaks dual authorization.

Whatever order agents ask and approve in, the recorded grants must satisfy:
* nobody approves their own request (also checked directly, below, where
  the requester's authority has refilled by the time they try);
* each person's monthly charged total (their own grants within authority plus
  the grants they approved) stays within their monthly budget, so a
  requester's total can exceed their budget only through grants that a
  different person, with authority covering them, approved;
* every grant is within the per-grant limit of whoever it is charged to, and
  the account's trailing-365-day total within that person's customer limit.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from authority_test_factories import (
    ANN,
    BOB,
    NOW,
    POLICY,
    SUE,
    TIA,
    TOM,
    customer,
    policy_dict,
    role,
)
from hypothesis import event, given, settings
from hypothesis import strategies as st

from billing.discounts.rules.decisions import approve, decide
from billing.discounts.rules.grants import (
    CUSTOMER_WINDOW,
    Approved,
    GrantHistory,
    GrantRequest,
    NeedsApproval,
    PastGrant,
    PendingGrant,
    Refused,
    utc_month,
)
from billing.discounts.rules.policy import AuthorityPolicy, GrantKind

PEOPLE = (ANN, BOB, TOM, TIA, SUE)
ROLE_OF = {person.agent_id: person.role for person in PEOPLE}
ACCOUNTS = tuple(f"acc-{number}" for number in range(4))


def _ascending(low: int, high: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(low, high), min_size=3, max_size=3).map(sorted)


@st.composite
def policies(draw) -> AuthorityPolicy:
    # Limits of the same order as the grant sizes below, so any of them can
    # be the one that binds: a few grants exhaust a budget or a customer.
    per_grant, monthly, per_customer = (draw(_ascending(500, 12_000)) for _ in range(3))
    data = policy_dict()
    data["authority"]["EUR"] = {
        name: role(per_grant[rank], monthly[rank], per_customer[rank], approves=rank > 0)
        for rank, name in enumerate(("agent", "tier2", "supervisor"))
    }
    return AuthorityPolicy.from_dict(data)


@dataclass(frozen=True)
class Ask:
    person: int
    account: int
    kind: GrantKind
    size: int
    hours_later: int


@dataclass(frozen=True)
class Sign:
    pending: int
    person: int | None  # None: the requester tries to approve their own grant
    hours_later: int


asks = st.builds(
    Ask,
    st.integers(0, len(PEOPLE) - 1),
    st.integers(0, len(ACCOUNTS) - 1),
    st.sampled_from(list(GrantKind)),
    st.integers(1, 9_000),
    st.integers(0, 300),
)
signs = st.builds(Sign, st.integers(0, 50), st.none() | st.integers(0, len(PEOPLE) - 1), st.integers(0, 300))
steps = st.lists(st.one_of(asks, signs, signs), max_size=60)


def _request(step: Ask, number: int) -> GrantRequest:
    account = ACCOUNTS[step.account]
    if step.kind is GrantKind.PERCENT_NEXT_INVOICES:
        # 1..20 % of 1..6 invoices of 40.00 (the factory's average invoice)
        return GrantRequest(
            f"r{number}", account, step.kind, "EUR", percent_bp=step.size % 2000 + 1, invoice_count=step.size % 6 + 1
        )
    return GrantRequest(f"r{number}", account, step.kind, "EUR", amount_minor=step.size)


def _replay(script: list[Ask | Sign], policy: AuthorityPolicy, note=lambda _: None) -> GrantHistory:
    history, pending, now = GrantHistory(), [], NOW
    for number, step in enumerate(script):
        now += timedelta(hours=step.hours_later)
        if isinstance(step, Ask):
            request = _request(step, number)
            standing = customer(request.account_id, tenure_days=400 + (now - NOW).days)
            decision = decide(request, PEOPLE[step.person], history, standing, policy, now)
        elif pending:
            waiting: PendingGrant = pending[step.pending % len(pending)]
            signer = waiting.requested_by if step.person is None else PEOPLE[step.person]
            decision = approve(waiting, signer, history, policy, now)
        else:
            continue
        note(type(decision).__name__)
        if isinstance(decision, Approved):
            history = history.with_grant(decision.grant)
        if isinstance(decision, NeedsApproval):
            pending.append(decision.pending)
    return history


@settings(max_examples=400, deadline=None)
@given(steps, policies())
def test_no_budget_is_exceeded_without_a_distinct_covering_approver(script, policy):
    history = _replay(script, policy, note=event)
    charged = defaultdict(int)
    for position, grant in enumerate(history.grants):
        assert grant.approved_by != grant.agent_id
        authority = policy.authority_for("EUR", ROLE_OF[grant.charged_to])
        if grant.approved_by is not None:
            assert authority.can_approve_others
        assert grant.value_minor <= authority.max_per_grant_minor
        charged[grant.charged_to, utc_month(grant.granted_at)] += grant.value_minor
        # Only grants recorded up to this one: later ones share its timestamp.
        window_total = sum(
            other.value_minor
            for other in history.grants[: position + 1]
            if other.account_id == grant.account_id and other.granted_at > grant.granted_at - CUSTOMER_WINDOW
        )
        assert window_total <= authority.max_per_customer_12m_minor
    for (person_id, _month), total in charged.items():
        assert total <= policy.authority_for("EUR", ROLE_OF[person_id]).monthly_budget_minor


@settings(max_examples=200, deadline=None)
@given(steps, policies())
def test_requesters_own_share_stays_within_budget_and_excess_has_other_approvers(script, policy):
    history = _replay(script, policy)
    own_share, requested = defaultdict(int), defaultdict(int)
    for grant in history.grants:
        key = grant.agent_id, utc_month(grant.granted_at)
        requested[key] += grant.value_minor
        if grant.approved_by is None:
            own_share[key] += grant.value_minor
    for (agent_id, month), total in requested.items():
        budget = policy.authority_for("EUR", ROLE_OF[agent_id]).monthly_budget_minor
        assert own_share[agent_id, month] <= budget
        if total > budget:
            approvers = {
                g.approved_by for g in history.grants if g.agent_id == agent_id and utc_month(g.granted_at) == month
            }
            assert approvers - {None} and agent_id not in approvers


@settings(max_examples=300, deadline=None)
@given(policies(), st.sampled_from([TOM, SUE]), st.integers(0, 12_000), st.integers(1, 12_000), st.integers(0, 400))
def test_requester_never_approves_own_grant_whatever_their_later_authority(
    policy, requester, spent_this_month, amount, days_later
):
    # A budget spent in November, refilled in December, is the realistic way
    # a requester's own authority could come to cover their pending grant.
    spent = GrantHistory(
        (
            PastGrant(
                "old",
                "bob",
                "acc-9",
                GrantKind.CREDIT_NOTE,
                "EUR",
                spent_this_month,
                NOW,
                approved_by=requester.agent_id,
            ),
        )
    )
    asked = decide(
        GrantRequest("r", "acc-1", GrantKind.CREDIT_NOTE, "EUR", amount_minor=amount),
        requester,
        spent,
        customer(),
        policy,
        NOW,
    )
    if isinstance(asked, NeedsApproval):
        later = approve(asked.pending, requester, spent, policy, NOW + timedelta(days=days_later))
        assert isinstance(later, Refused) and later.rule == "separation_of_duties"


def test_the_replay_reaches_every_kind_of_decision():
    # Guards the properties against passing vacuously.
    script = [
        Ask(0, 0, GrantKind.FIXED_NEXT_INVOICE, 800, 0),
        Ask(0, 1, GrantKind.FIXED_NEXT_INVOICE, 1500, 0),
        Sign(0, 0, 1),
        Sign(0, 2, 1),
        Ask(1, 2, GrantKind.CREDIT_NOTE, 50_000, 1),
    ]
    grants = _replay(script, POLICY).grants
    assert [(g.value_minor, g.approved_by) for g in grants] == [(800, None), (1500, "tom")]
