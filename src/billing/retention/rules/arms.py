"""Deterministic randomised holdout: which eligible cases get no discount.

Agents give discounts to the angriest callers, so comparing discounted with
non-discounted customers measures anger, not the discount. A causal estimate
needs a control arm chosen by chance; hashing the account id makes that
choice reproducible in every worker and every replay, without storing it.

``hash()`` is not used because Python salts it per process
(PYTHONHASHSEED), so two workers would disagree about the same account.
SHA-256 of ``salt + "\\x1f" + account_id`` is stable everywhere; the unit
separator keeps ("ab", "c") and ("a", "bc") apart. Changing the salt draws a
fresh, independent assignment (a new experiment).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

BASIS_POINTS = 10_000


class Arm(StrEnum):
    CONTROL = "control"
    TREATMENT = "treatment"


def arm_bucket(account_id: str, salt: str) -> int:
    """The account's position in 0..9999, uniform over accounts."""
    digest = hashlib.sha256(f"{salt}\x1f{account_id}".encode()).digest()
    # 64 bits modulo 10,000: the bias is below 1e-15 per bucket.
    return int.from_bytes(digest[:8], "big") % BASIS_POINTS


def assign_arm(account_id: str, holdout_share_bp: int = 1000, salt: str = "retention-v1") -> Arm:
    """``Arm.CONTROL`` for ``holdout_share_bp`` / 10000 of accounts, else treatment.

    Raising the share only moves accounts from treatment into control (the
    bucket threshold grows), so earlier control accounts stay in control.
    """
    if not 0 <= holdout_share_bp <= BASIS_POINTS:
        raise ValueError(f"holdout_share_bp must be within 0..10000, got {holdout_share_bp}")
    if arm_bucket(account_id, salt) < holdout_share_bp:
        return Arm.CONTROL
    return Arm.TREATMENT
