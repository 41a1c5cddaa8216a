"""Which dispute credits are a retention practice: the goodwill ones, never the correction of a billing error.

The retention experiment withholds practices from its control arm (src/billing/retention/rules/plan.py); one of
them may be ``credit``, "a goodwill credit". A dispute names its reason when it is opened
(billing.contracts.disputes.DisputeReason), and the reason tells the two kinds of credit apart:

* a dispute for an incorrect charge, a service not received, a roaming charge or fraud names a billing error;
  its credit corrects the bill, is owed to every customer alike and is never withheld, neither when it is asked
  for nor when a second person approves it;
* a dispute for any ``other`` reason names no billing error: crediting it is a gesture the agent chooses to make,
  the practice ``credit``, and it is withheld in the control arm exactly as a goodwill credit note asked through
  the discount route is (src/billing/discounts/holdout.py).

A reason this module does not know (a row older than the enum, say) counts as a correction: a credit that might
correct an error is never blocked. Every DisputeReason is in exactly one of the two sets (a unit test holds it).
"""

from __future__ import annotations

from billing.contracts.disputes import DisputeReason

BILLING_ERRORS = frozenset(
    {DisputeReason.INCORRECT_CHARGE, DisputeReason.SERVICE_NOT_RECEIVED, DisputeReason.ROAMING, DisputeReason.FRAUD}
)
GOODWILL = frozenset({DisputeReason.OTHER})


def is_goodwill(dispute_reason: str) -> bool:
    """True when a credit on a dispute opened for ``dispute_reason`` is the retention practice ``credit``."""
    return dispute_reason in GOODWILL
