"""Random sequences of grant requests, approvals, invoices and credits (hypothesis), through the same pure
cores the runtime uses: src/billing/discounts/rules (decide, approve), src/billing/invoicing/rules/adjustments (applying grants to
an invoice) and src/billing/credits/credit (the credit cap).

Properties: no grant exceeds the authority of the person it is charged to, and every grant above the
requester's authority has a distinct approver allowed to approve; no invoice goes below zero and no fixed
grant gives more than its amount; credits never exceed an invoice; replaying every application (the unique
(grant, invoice) key) changes nothing; a granted request id is never granted twice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.credits.rules.credit import InvoiceCredit, after_credit, check_credit
from billing.discounts.rules.decisions import approve, decide
from billing.discounts.rules.grants import (
    CUSTOMER_WINDOW,
    AgentProfile,
    Approved,
    CustomerStanding,
    GrantHistory,
    GrantRequest,
    NeedsApproval,
    PendingGrant,
    utc_month,
)
from billing.discounts.rules.policy import GrantKind, Role, default_policy
from billing.invoicing.rules.adjustments import apply_discounts
from billing.invoicing.rules.invoice_model import Adjustment, AdjustmentKind
from billing.money import percent_of

POLICY = default_policy()  # EUR: agent 2,500 / tier2 10,000 / supervisor 50,000 per grant
START = datetime(2026, 1, 5, tzinfo=UTC)
PEOPLE = (
    AgentProfile("ann", Role.AGENT),
    AgentProfile("bob", Role.AGENT),
    AgentProfile("tom", Role.TIER2),
    AgentProfile("sue", Role.SUPERVISOR),
    AgentProfile("sam", Role.SUPERVISOR),
)
ROLE_OF = {person.agent_id: person.role for person in PEOPLE}
ACCOUNTS = ("acc-1", "acc-2")
TAX_BP = 1900


def _standing(account: str) -> CustomerStanding:
    return CustomerStanding(account, "EUR", START - timedelta(days=400), 0, average_invoice_minor=3_000)


@dataclass
class World:
    now: datetime = START
    history: GrantHistory = field(default_factory=GrantHistory)
    pending: list[PendingGrant] = field(default_factory=list)
    fixed_left: dict[str, int] = field(default_factory=dict)  # grant -> balance still to give
    percent_left: dict[str, tuple[int, int]] = field(default_factory=dict)  # grant -> (bp, invoices left)
    account_of: dict[str, str] = field(default_factory=dict)
    applied: dict[tuple[str, str], int] = field(default_factory=dict)  # (grant, invoice) -> amount: the key
    invoices: dict[str, InvoiceCredit] = field(default_factory=dict)
    fixed_amount: dict[str, int] = field(default_factory=dict)
    seq: int = 0

    def record(self, decision: Approved) -> None:
        grant = decision.grant
        self.history = self.history.with_grant(grant)
        self.account_of[grant.grant_id] = grant.account_id


ask = st.tuples(
    st.just("ask"),
    st.integers(0, len(PEOPLE) - 1),
    st.integers(0, 1),
    st.sampled_from(list(GrantKind)),
    st.integers(1, 70_000),
    st.integers(0, 40),
)
approval = st.tuples(st.just("approve"), st.integers(0, 20), st.integers(0, len(PEOPLE) - 1), st.integers(0, 5))
invoice = st.tuples(st.just("invoice"), st.integers(0, 1), st.integers(0, 20_000), st.integers(0, 40))
credit = st.tuples(st.just("credit"), st.integers(0, 20), st.integers(1, 30_000), st.just(0))


def _request(world: World, kind: GrantKind, account: str, size: int) -> GrantRequest:
    world.seq += 1
    grant_id = f"g{world.seq}"
    if kind is GrantKind.PERCENT_NEXT_INVOICES:
        return GrantRequest(grant_id, account, kind, "EUR", percent_bp=1 + size % 3_000, invoice_count=1 + size % 6)
    return GrantRequest(grant_id, account, kind, "EUR", amount_minor=size)


def _on_grant(world: World, decision: Approved, request: GrantRequest) -> None:
    world.record(decision)
    if request.kind is GrantKind.FIXED_NEXT_INVOICE:
        world.fixed_left[request.request_id] = world.fixed_amount[request.request_id] = request.amount_minor
    elif request.kind is GrantKind.PERCENT_NEXT_INVOICES:
        world.percent_left[request.request_id] = (request.percent_bp, request.invoice_count)


def _do_ask(world: World, who: int, acc: int, kind: GrantKind, size: int) -> None:
    request = _request(world, kind, ACCOUNTS[acc], size)
    decision = decide(request, PEOPLE[who], world.history, _standing(request.account_id), POLICY, world.now)
    if isinstance(decision, Approved):
        _on_grant(world, decision, request)
        # A redelivered request with the same id is never granted twice.
        again = decide(request, PEOPLE[who], world.history, _standing(request.account_id), POLICY, world.now)
        assert not isinstance(again, Approved) and again.rule == "already_decided"
    elif isinstance(decision, NeedsApproval):
        world.pending.append(decision.pending)


def _do_approve(world: World, index: int, who: int) -> None:
    if not world.pending:
        return
    pending = world.pending[index % len(world.pending)]
    decision = approve(pending, PEOPLE[who], world.history, POLICY, world.now)
    if isinstance(decision, Approved):
        world.pending.remove(pending)
        _on_grant(world, decision, pending.request)


def _do_invoice(world: World, acc: int, subtotal: int) -> None:
    account = ACCOUNTS[acc]
    invoice_id = f"inv{len(world.invoices)}"
    issued = {g for g, a in world.account_of.items() if a == account}
    adjustments = [
        Adjustment(AdjustmentKind.PERCENT, g, percent_bp=bp)
        for g, (bp, left) in world.percent_left.items()
        if g in issued and left > 0
    ]
    adjustments += [
        Adjustment(AdjustmentKind.FIXED, g, amount_minor=left)
        for g, left in world.fixed_left.items()
        if g in issued and left > 0
    ]
    applications = apply_discounts(subtotal, adjustments)
    discounted = subtotal - sum(app.applied_minor for app in applications)
    total = discounted + percent_of(discounted, TAX_BP)
    assert discounted >= 0 and total >= 0
    for app in applications:
        grant_id = app.adjustment.grant_id
        world.applied[(grant_id, invoice_id)] = app.applied_minor
        if grant_id in world.fixed_left:
            world.fixed_left[grant_id] -= app.applied_minor
        else:
            bp, left = world.percent_left[grant_id]
            world.percent_left[grant_id] = (bp, left - 1)
    world.invoices[invoice_id] = InvoiceCredit(invoice_id, "EUR", total, 0)


def _do_credit(world: World, index: int, amount: int) -> None:
    if not world.invoices:
        return
    invoice_id = sorted(world.invoices)[index % len(world.invoices)]
    invoice = world.invoices[invoice_id]
    if check_credit(invoice, amount, "EUR") is None:
        world.invoices[invoice_id] = after_credit(invoice, amount)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(ask, ask, approval, approval, invoice, credit), max_size=40))
def test_random_money_sequences_keep_every_rule(steps) -> None:
    world = World()
    for step in steps:
        world.now += timedelta(days=step[-1] if step[0] != "approve" else step[-1] / 24)
        if step[0] == "ask":
            _do_ask(world, step[1], step[2], step[3], step[4])
        elif step[0] == "approve":
            _do_approve(world, step[1], step[2])
        elif step[0] == "invoice":
            _do_invoice(world, step[1], step[2])
        else:
            _do_credit(world, step[1], step[2])
    _check_authority(world.history)
    _check_invoices(world)


def _check_authority(history: GrantHistory) -> None:
    by_month: dict[tuple[str, tuple[int, int]], int] = defaultdict(int)
    for index, grant in enumerate(history.grants):
        authority = POLICY.authority_for("EUR", ROLE_OF[grant.charged_to])
        assert grant.value_minor <= authority.max_per_grant_minor
        if grant.approved_by is not None:
            assert grant.approved_by != grant.agent_id
            assert POLICY.authority_for("EUR", ROLE_OF[grant.approved_by]).can_approve_others
        # The grants this one was decided against: those before it (in decision order, since several may share a
        # timestamp) within the 12 months, and itself. A later grant by someone with a higher limit is not its.
        account_window = sum(
            g.value_minor
            for g in history.grants[: index + 1]
            if g.account_id == grant.account_id and grant.granted_at - CUSTOMER_WINDOW < g.granted_at
        )
        assert account_window <= authority.max_per_customer_12m_minor
        by_month[(grant.charged_to, utc_month(grant.granted_at))] += grant.value_minor
    for (person, _month), used in by_month.items():
        assert used <= POLICY.authority_for("EUR", ROLE_OF[person]).monthly_budget_minor


def _check_invoices(world: World) -> None:
    for grant_id, amount in world.fixed_amount.items():
        given_total = sum(v for (g, _inv), v in world.applied.items() if g == grant_id)
        assert given_total + world.fixed_left[grant_id] == amount and world.fixed_left[grant_id] >= 0
    for invoice in world.invoices.values():
        assert 0 <= invoice.credited_minor <= invoice.total_minor
    # Replay: the applications are keyed by (grant, invoice); applying them all again adds nothing.
    replayed = dict(world.applied)
    for key, value in world.applied.items():
        replayed.setdefault(key, value)
    assert replayed == world.applied
