"""Hand-worked discount decisions against the round-number test policy.

Test policy (EUR cents): agent 1000 per grant / 3000 a month / 2000 per
customer in 12 months, may not approve; tier2 5000 / 10000 / 8000; supervisor
20000 / 50000 / 30000. NOW is 2026-11-15 12:00 UTC.
"""

from datetime import timedelta

import pytest
from authority_test_factories import (
    ANN,
    BOB,
    NOW,
    POLICY,
    SUE,
    TIA,
    TOM,
    credit,
    customer,
    fixed,
    history,
    past,
    percent,
    utc,
)

from billing.discounts.rules.decisions import approve, decide, decider_refusal, grant_value_minor
from billing.discounts.rules.grants import Approved, GrantRequest, LimitExcess, NeedsApproval, Refused
from billing.discounts.rules.policy import GrantKind


def test_grant_within_authority_is_approved_and_charged_to_the_requester():
    decision = decide(fixed(800), ANN, history(), customer(), POLICY, NOW)
    assert isinstance(decision, Approved)
    grant = decision.grant
    assert (grant.grant_id, grant.value_minor, grant.approved_by) == ("req-1", 800, None)
    assert grant.charged_to == "ann" and grant.granted_at == NOW


def test_percent_value_is_rate_times_average_invoice_times_count_rounded_half_up():
    # 15 % of 3 invoices of 33.33: 0.15 * 9999 = 1499.85 -> 1500
    assert grant_value_minor(percent(1500, 3), customer(average_invoice_minor=3333)) == 1500
    # 50 % of 3 cents is 1.5 -> 2 (half up); 50 % of 1 cent is 0.5 -> 1
    assert grant_value_minor(percent(5000, 1), customer(average_invoice_minor=3)) == 2
    assert grant_value_minor(percent(5000, 1), customer(average_invoice_minor=1)) == 1
    # 12.34 % of 2 invoices of 10.01: 0.1234 * 2002 = 247.0468 -> 247
    assert grant_value_minor(percent(1234, 2), customer(average_invoice_minor=1001)) == 247


def test_percent_grant_above_per_grant_limit_needs_approval_with_its_excess():
    # 20 % of 6 invoices of 40.00 = 4800 > 1000 per grant and > 3000 a month
    decision = decide(percent(2000, 6), ANN, history(), customer(), POLICY, NOW)
    assert isinstance(decision, NeedsApproval)
    assert decision.pending.value_minor == 4800
    assert decision.exceeded == (
        LimitExcess("max_per_grant_minor", 1000, 4800),
        LimitExcess("monthly_budget_minor", 3000, 4800),
        LimitExcess("max_per_customer_12m_minor", 2000, 4800),
    )
    assert decision.exceeded[0].excess_minor == 3800


def test_monthly_budget_counts_own_grants_of_this_utc_month_only():
    spent = history(
        past(900, utc(2026, 11, 1, 0, 5)),
        past(900, utc(2026, 11, 3)),
        past(700, utc(2026, 11, 9)),
        past(1000, utc(2026, 10, 31, 23, 55)),  # last month
        past(1000, utc(2026, 11, 2), approved_by="tom"),  # charged to tom, not ann
    )
    # 2500 already this month + 800 = 3300 > 3000
    decision = decide(fixed(800), ANN, spent, customer(), POLICY, NOW)
    assert isinstance(decision, NeedsApproval)
    assert decision.exceeded == (LimitExcess("monthly_budget_minor", 3000, 3300),)
    assert decision.exceeded[0].excess_minor == 300
    assert isinstance(decide(fixed(500), ANN, spent, customer(), POLICY, NOW), Approved)


def test_per_customer_limit_sums_every_agent_over_the_trailing_365_days():
    earlier = history(
        past(1500, NOW - timedelta(days=200), agent_id="bob", account_id="acc-1"),
        past(1000, NOW - timedelta(days=366), agent_id="bob", account_id="acc-1"),  # expired
    )
    decision = decide(fixed(800), ANN, earlier, customer(), POLICY, NOW)
    assert isinstance(decision, NeedsApproval)
    assert decision.exceeded == (LimitExcess("max_per_customer_12m_minor", 2000, 2300),)


@pytest.mark.parametrize(
    ("request_", "standing", "earlier", "reason"),
    [
        (fixed(500), customer(tenure_days=40), history(), "min_tenure_days: customer for 40 days (minimum 90)"),
        (
            fixed(500),
            customer(overdue=2),
            history(),
            "good_standing_required: 2 overdue invoice(s); good standing is required",
        ),
        (
            percent(1000, 1),
            customer(),
            history(past(300, NOW - timedelta(days=12), account_id="acc-1", kind=GrantKind.PERCENT_NEXT_INVOICES)),
            "no_similar_discount_within_days: a percent discount was granted 12 days ago (limit 90)",
        ),
        (percent(2500, 1), customer(), history(), "max_percent_bp: 2500 bp requested (limit 2000 bp)"),
        (percent(1000, 7), customer(), history(), "max_invoice_count: 7 invoices requested (limit 6)"),
        (
            fixed(500, currency="USD"),
            customer(currency="USD"),
            history(),
            "currency: no discount authority is configured for USD",
        ),
    ],
)
def test_ineligible_requests_are_refused_naming_the_rule(request_, standing, earlier, reason):
    decision = decide(request_, ANN, earlier, standing, POLICY, NOW)
    assert decision == Refused(reason.split(":")[0], reason)


def test_similar_discount_rule_ends_exactly_at_its_window_and_ignores_other_kinds():
    at_window = past(300, NOW - timedelta(days=90), account_id="acc-1", kind=GrantKind.PERCENT_NEXT_INVOICES)
    other_kind = past(300, NOW - timedelta(days=1), account_id="acc-1")
    for earlier in (history(at_window), history(other_kind)):
        assert isinstance(decide(percent(100, 1), ANN, earlier, customer(), POLICY, NOW), Approved)


def test_credit_note_is_allowed_for_a_new_customer_with_overdue_invoices():
    standing = customer(tenure_days=3, overdue=1)
    assert isinstance(decide(credit(700), ANN, history(), standing, POLICY, NOW), Approved)


def test_grant_beyond_the_most_senior_authority_is_refused_not_escalated():
    decision = decide(fixed(25_000), ANN, history(), customer(), POLICY, NOW)
    assert isinstance(decision, Refused)
    assert decision.rule == "max_per_grant_minor"
    assert decision.reason.startswith("max_per_grant_minor: beyond even supervisor authority")
    assert "over by 5000" in decision.reason


def _pending(amount: int = 1500):
    decision = decide(fixed(amount), ANN, history(), customer(), POLICY, NOW)
    assert isinstance(decision, NeedsApproval)
    return decision.pending


def test_tier2_approval_grants_and_charges_the_approver():
    later = NOW + timedelta(hours=2)
    decision = approve(_pending(), TOM, history(), POLICY, later)
    assert isinstance(decision, Approved)
    grant = decision.grant
    assert (grant.agent_id, grant.approved_by, grant.charged_to) == ("ann", "tom", "tom")
    assert (grant.value_minor, grant.granted_at) == (1500, later)


@pytest.mark.parametrize(
    ("approver", "rule"),
    [(ANN, "separation_of_duties"), (BOB, "can_approve_others")],
)
def test_requester_and_front_line_agents_cannot_approve(approver, rule):
    decision = approve(_pending(), approver, history(), POLICY, NOW)
    assert isinstance(decision, Refused) and decision.rule == rule


@pytest.mark.parametrize(
    ("person", "rule"),
    [(ANN, "separation_of_duties"), (BOB, "can_approve_others"), (TOM, None), (SUE, None)],
)
def test_who_may_decide_is_one_rule_for_approving_and_refusing(person, rule):
    # Refusing a pending grant (src/billing/discounts/service.py refuse_request) asks the same rule as approving.
    for verb in ("approve", "decide"):
        refusal = decider_refusal(_pending(), person, POLICY, verb)
        assert (refusal and refusal.rule) == rule
        if refusal is not None:
            assert refusal.reason.startswith(f"{rule}: ") and verb in refusal.reason
    approved = approve(_pending(), person, history(), POLICY, NOW)
    assert (approved.rule if isinstance(approved, Refused) else None) == rule


def test_approver_without_budget_or_per_grant_authority_is_refused_and_supervisor_can():
    tom_spent = history(past(9_000, utc(2026, 11, 2), agent_id="bob", approved_by="tom"))
    short_budget = approve(_pending(1500), TOM, tom_spent, POLICY, NOW)
    assert short_budget == Refused(
        "monthly_budget_minor",
        "monthly_budget_minor: approver tom lacks authority: "
        "monthly_budget_minor: would reach 10500, limit 10000 (over by 500)",
    )
    assert isinstance(approve(_pending(1500), TIA, tom_spent, POLICY, NOW), Approved)
    too_big = approve(_pending(6000), TIA, history(), POLICY, NOW)
    assert isinstance(too_big, Refused) and too_big.rule == "max_per_grant_minor"
    assert isinstance(approve(_pending(6000), SUE, history(), POLICY, NOW), Approved)


def test_approval_rechecks_eligibility_and_refuses_a_second_approval():
    pending = _pending()
    approved = approve(pending, TOM, history(), POLICY, NOW)
    assert isinstance(approved, Approved)
    after = history(approved.grant)
    assert approve(pending, TIA, after, POLICY, NOW).rule == "already_decided"
    assert decide(fixed(100), ANN, after, customer(), POLICY, NOW).rule == "already_decided"
    meanwhile = history(past(100, NOW, account_id="acc-1", grant_id="other"))
    refused = approve(pending, TOM, meanwhile, POLICY, NOW + timedelta(days=1))
    assert refused.rule == "no_similar_discount_within_days"


def test_mismatched_or_naive_inputs_are_caller_errors():
    with pytest.raises(ValueError, match="standing is for acc-2"):
        decide(fixed(100), ANN, history(), customer("acc-2"), POLICY, NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(fixed(100), ANN, history(), customer(), POLICY, NOW.replace(tzinfo=None))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": GrantKind.PERCENT_NEXT_INVOICES, "percent_bp": 100}, "needs invoice_count"),
        ({"kind": GrantKind.FIXED_NEXT_INVOICE, "amount_minor": 5, "percent_bp": 100}, "must not set percent_bp"),
        ({"kind": GrantKind.CREDIT_NOTE, "amount_minor": 0}, "amount_minor must be positive"),
    ],
)
def test_malformed_requests_are_rejected_on_construction(fields, message):
    with pytest.raises(ValueError, match=message):
        GrantRequest("r", "acc-1", currency="EUR", **fields)


def test_requester_cannot_approve_own_request_even_once_their_budget_refills():
    # tom's November budget is spent, so his own 2000 request needs approval;
    # in December his budget would cover it, but he is still the requester.
    spent = history(past(9_000, utc(2026, 11, 2), agent_id="bob", approved_by="tom"))
    asked = decide(fixed(2000), TOM, spent, customer(), POLICY, NOW)
    assert isinstance(asked, NeedsApproval)
    assert asked.exceeded == (LimitExcess("monthly_budget_minor", 10_000, 11_000),)
    december = approve(asked.pending, TOM, spent, POLICY, utc(2026, 12, 1))
    assert december.rule == "separation_of_duties"
    assert isinstance(approve(asked.pending, TIA, spent, POLICY, utc(2026, 12, 1)), Approved)
