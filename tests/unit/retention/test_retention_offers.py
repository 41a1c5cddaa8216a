"""The suggested offer: drawn from the default discount policy for treatment, never for the control arm."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from billing.discounts.rules.decisions import grant_value_minor
from billing.discounts.rules.grants import CustomerStanding, GrantRequest
from billing.discounts.rules.policy import GrantKind, default_policy
from billing.retention.rules.offers import AccountFacts, Offer, suggest_offer

POLICY = default_policy()  # EUR front-line agent: at most 2,500 minor per grant


def facts(**changes) -> AccountFacts:
    base = dict(account_id="acc-1", currency="EUR", tenure_days=400, good_standing=True, monthly_bill_minor=2999)
    return AccountFacts(**{**base, **changes})


def test_an_established_customer_is_offered_15_percent_off_three_invoices() -> None:
    # 2,999 x 3 x 15 % = 1,349.55 -> 1,350 minor: half up, as the authority values the same grant
    assert suggest_offer(facts(), POLICY, "treatment") == Offer(
        "discount_percent", GrantKind.PERCENT_NEXT_INVOICES, 1350, "EUR", 1500, 3
    )


def test_the_agents_authority_shortens_the_offer_before_it_shrinks_the_percent() -> None:
    # 8,000 x 15 % x 3 = 3,600 > 2,500; x 2 = 2,400 fits
    offer = suggest_offer(facts(monthly_bill_minor=8000), POLICY, "treatment")
    assert (offer.percent_bp, offer.invoice_count, offer.amount_minor) == (1500, 2, 2400)
    # 20,000 x 15 % = 3,000 > 2,500 even for one invoice: a fixed offer capped at the authority, 2,500
    offer = suggest_offer(facts(monthly_bill_minor=20000), POLICY, "treatment")
    assert (offer.practice, offer.amount_minor) == ("discount_fixed", 2500)


def test_eligibility_rules_of_the_policy_apply() -> None:
    # 100 days: too new for a percent offer (180), old enough for a fixed one (90): 2,999 x 20 % = 599.8 -> 600
    assert suggest_offer(facts(tenure_days=100), POLICY, "treatment").amount_minor == 600
    assert suggest_offer(facts(tenure_days=30), POLICY, "treatment") is None
    assert suggest_offer(facts(good_standing=False), POLICY, "treatment") is None
    recent = {GrantKind.PERCENT_NEXT_INVOICES: 30}  # within 90 days of a similar discount
    assert suggest_offer(facts(days_since_discount=recent), POLICY, "treatment").practice == "discount_fixed"
    assert suggest_offer(facts(currency="USD"), POLICY, "treatment") is None  # no authority in USD


def test_no_offer_while_the_customer_has_a_dispute_open() -> None:
    # In good standing (nothing overdue), but a bill is contested: the dispute is answered first.
    assert suggest_offer(facts(open_disputes=1), POLICY, "treatment") is None
    assert suggest_offer(facts(open_disputes=0), POLICY, "treatment") is not None


@given(
    tenure=st.integers(0, 3000),
    bill=st.integers(0, 10**7),
    standing=st.booleans(),
    arm=st.sampled_from(["treatment", "control", "not_eligible"]),
)
def test_offers_stay_within_authority_and_never_reach_the_control_arm(tenure, bill, standing, arm) -> None:
    offer = suggest_offer(facts(tenure_days=tenure, monthly_bill_minor=bill, good_standing=standing), POLICY, arm)
    if arm != "treatment":
        assert offer is None
    elif offer is not None:
        assert 0 < offer.amount_minor <= 2500
        assert isinstance(offer.amount_minor, int)
        # The authority values the offered grant exactly as the offer does (same rounding), so what is offered
        # is within what the agent may grant without an approval.
        if offer.grant_kind is GrantKind.PERCENT_NEXT_INVOICES:
            request = GrantRequest(
                "r", "acc-1", offer.grant_kind, "EUR", percent_bp=offer.percent_bp, invoice_count=offer.invoice_count
            )
            customer = CustomerStanding("acc-1", "EUR", datetime(2020, 1, 1, tzinfo=UTC), 0, bill)
            assert grant_value_minor(request, customer) == offer.amount_minor
