"""Deterministic holdout: stable across processes, the share it promises."""

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from billing.retention.rules.arms import Arm, arm_bucket, assign_arm

_SAMPLE_IDS = [f"acc-{number:06d}" for number in range(100_000)]
_REPO_ROOT = Path(__file__).resolve().parents[3]
# Regression pin: the arms of acc-000000..acc-000009 under the default salt.
_PINNED_FIRST_TEN = ["treatment"] * 6 + ["control", "treatment", "treatment", "control"]


def test_default_holdout_is_ten_percent_within_one_point():
    control = sum(assign_arm(account) == "control" for account in _SAMPLE_IDS)
    assert abs(control / len(_SAMPLE_IDS) - 0.10) <= 0.01


def test_other_shares_and_salts_keep_their_promise():
    ids = _SAMPLE_IDS[:20_000]
    for share_bp, salt in ((2500, "retention-v1"), (1000, "retention-v2"), (0, "x"), (10_000, "x")):
        share = sum(assign_arm(a, share_bp, salt) is Arm.CONTROL for a in ids) / len(ids)
        assert abs(share - share_bp / 10_000) <= 0.01


def test_raising_the_share_only_moves_accounts_into_control():
    ids = _SAMPLE_IDS[:5_000]
    small = {a for a in ids if assign_arm(a, 500) is Arm.CONTROL}
    large = {a for a in ids if assign_arm(a, 1500) is Arm.CONTROL}
    assert small < large


def test_a_new_salt_draws_an_independent_assignment():
    ids = _SAMPLE_IDS[:20_000]
    both = sum(assign_arm(a) is Arm.CONTROL and assign_arm(a, salt="retention-v2") is Arm.CONTROL for a in ids)
    assert abs(both / len(ids) - 0.01) <= 0.005  # 10 % of 10 %


def test_assignment_is_the_same_in_another_process_with_another_hash_seed():
    ids = _SAMPLE_IDS[:200]
    here = [arm_bucket(a, "retention-v1") for a in ids]
    code = (
        "from billing.retention.rules.arms import arm_bucket; "
        "print([arm_bucket(f'acc-{n:06d}', 'retention-v1') for n in range(200)])"
    )
    env = {"PYTHONHASHSEED": "12345", "PYTHONPATH": str(_REPO_ROOT)}
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert there.strip() == str(here)


def test_the_hash_is_pinned_so_a_refactor_cannot_reshuffle_arms():
    # sha256("retention-v1\x1facc-000000"), first 8 bytes big-endian, mod 10000
    digest = hashlib.sha256(b"retention-v1\x1facc-000000").digest()
    assert arm_bucket("acc-000000", "retention-v1") == int.from_bytes(digest[:8], "big") % 10_000
    assert [assign_arm(f"acc-{n:06d}") for n in range(10)] == _PINNED_FIRST_TEN


@pytest.mark.parametrize("share", [-1, 10_001])
def test_shares_outside_0_to_100_percent_are_refused(share):
    with pytest.raises(ValueError, match=r"0\.\.10000"):
        assign_arm("acc-1", share)
