"""Which dispute credits the retention holdout may withhold: the goodwill ones, never a billing error's correction."""

from billing.contracts.disputes import DisputeReason
from billing.credits.rules.goodwill import BILLING_ERRORS, GOODWILL, is_goodwill


def test_every_dispute_reason_is_either_a_billing_error_or_goodwill() -> None:
    assert set(DisputeReason) == BILLING_ERRORS | GOODWILL and not BILLING_ERRORS & GOODWILL


def test_only_a_dispute_naming_no_billing_error_is_a_goodwill_credit() -> None:
    assert is_goodwill("other") and is_goodwill(DisputeReason.OTHER)
    for reason in ("incorrect_charge", "service_not_received", "roaming", "fraud"):
        assert not is_goodwill(reason)
    assert not is_goodwill("a reason from before the enum")  # unknown: a possible correction, never withheld
