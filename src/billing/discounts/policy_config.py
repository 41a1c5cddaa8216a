"""The discount authority policy from configuration (DISCOUNT_POLICY_PATH), read when asked, never at import."""

from __future__ import annotations

import orjson

from billing.discounts.rules.policy import AuthorityPolicy, PolicyConfigError, default_policy
from billing.platform.settings import Settings


def load_policy(settings: Settings) -> AuthorityPolicy:
    if settings.discount_policy_path is None:
        return default_policy()
    try:
        return AuthorityPolicy.from_dict(orjson.loads(settings.discount_policy_path.read_bytes()))
    except (OSError, orjson.JSONDecodeError) as error:
        raise PolicyConfigError(
            f"cannot read the discount policy at {settings.discount_policy_path}: {error}"
        ) from error
