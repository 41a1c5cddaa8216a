"""Dispute credits under the discount authority: the opener's limit from configuration, and its pure rule.

Test policy as in authority_test_factories (EUR cents): agent 1000 per grant / 3000 a month / 2000 per customer
in 12 months; plus, where a test adds it, ``disputes.EUR.max_credit_by_opener_minor`` = 500.
"""

from copy import deepcopy
from datetime import timedelta

import pytest
from authority_test_factories import ANN, NOW, POLICY, credit, customer, history, past, policy_dict

from billing.credits.rules.credit import InvoiceCredit, check_credit
from billing.discounts.rules.decisions import decide, opener_refusal
from billing.discounts.rules.grants import Approved, NeedsApproval
from billing.discounts.rules.policy import AuthorityPolicy, PolicyConfigError, default_policy


def _with_disputes(disputes: object) -> dict:
    data = deepcopy(policy_dict())
    data["disputes"] = disputes
    return data


OPENER_500 = AuthorityPolicy.from_dict(_with_disputes({"EUR": {"max_credit_by_opener_minor": 500}}))


def test_the_default_policy_lets_an_opener_settle_small_disputes_only():
    policy = default_policy()
    assert (policy.max_credit_by_opener("EUR"), policy.max_credit_by_opener("JPY")) == (1_000, 1_200)


def test_without_a_disputes_section_an_opener_credits_nothing_on_their_own_dispute():
    assert POLICY.max_credit_by_opener("EUR") == 0
    refusal = opener_refusal(1, "EUR", "ann", "ann", POLICY)
    assert refusal is not None and refusal.rule == "max_credit_by_opener_minor"


@pytest.mark.parametrize(
    ("disputes", "message"),
    [
        ({"EUR": {"max_credit_by_openr_minor": 5}}, "unknown keys ['max_credit_by_openr_minor']"),
        ({"EUR": {}}, "disputes.EUR: missing keys ['max_credit_by_opener_minor']"),
        ({"EUR": {"max_credit_by_opener_minor": -1}}, "must be >= 0, got -1"),
        ({"EUR": {"max_credit_by_opener_minor": 10.5}}, "expected an integer, got 10.5"),
        ({"eur": {"max_credit_by_opener_minor": 5}}, "disputes: currency must be an ISO 4217 code, got 'eur'"),
        ([], "disputes: expected a mapping, got list"),
    ],
)
def test_mistakes_in_the_disputes_section_are_refused_with_the_offending_key(disputes, message):
    with pytest.raises(PolicyConfigError) as raised:
        AuthorityPolicy.from_dict(_with_disputes(disputes))
    assert message in str(raised.value)


def test_the_opener_may_credit_up_to_the_limit_and_anyone_else_more():
    assert opener_refusal(500, "EUR", "ann", "ann", OPENER_500) is None  # at the limit
    refused = opener_refusal(501, "EUR", "ann", "ann", OPENER_500)
    assert refused is not None and refused.rule == "max_credit_by_opener_minor"
    assert refused.reason.startswith("max_credit_by_opener_minor: ann opened this dispute")
    assert opener_refusal(501, "EUR", "bob", "ann", OPENER_500) is None  # someone else decides
    assert opener_refusal(501, "EUR", "ann", None, OPENER_500) is None  # opened elsewhere: no known opener
    assert opener_refusal(501, "JPY", "bob", "ann", OPENER_500) is None
    assert opener_refusal(1, "JPY", "ann", "ann", OPENER_500) is not None  # JPY not configured: 0


def test_a_dispute_credit_is_decided_by_the_same_limits_as_any_grant():
    # 1,500 granted on acc-1 ten days ago; a credit of 400 brings the customer to 1,900 <= 2,000: granted to
    # Ann; one of 600 to 2,100 > 2,000: a second person must approve it.
    earlier = history(past(1_500, NOW - timedelta(days=10), agent_id="bob", account_id="acc-1"))
    assert isinstance(decide(credit(400), ANN, earlier, customer(), POLICY, NOW), Approved)
    over = decide(credit(600), ANN, earlier, customer(), POLICY, NOW)
    assert isinstance(over, NeedsApproval)
    assert [e.describe() for e in over.exceeded] == [
        "max_per_customer_12m_minor: would reach 2100, limit 2000 (over by 100)"
    ]


def test_a_refused_credit_does_not_state_the_invoice_total():
    # Total 4,760, credited 1,000: 3,760 remain, 3,761 is refused without repeating 4,760 or 1,000.
    refusal = check_credit(InvoiceCredit("inv-1", "EUR", 4_760, 1_000), 3_761, "EUR")
    assert refusal is not None and "3760" in refusal.reason
    assert "4760" not in refusal.reason and "1000" not in refusal.reason
