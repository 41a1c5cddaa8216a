"""The dunning policy of this process: DUNNING_POLICY_PATH (JSON or YAML) or the built-in default."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import yaml

from billing.collections.rules.dunning import DEFAULT_POLICY, DunningPolicy, parse_policy
from billing.platform.settings import Settings


def load_policy(settings: Settings) -> DunningPolicy:
    return _load(settings.dunning_policy_path)


@lru_cache(maxsize=4)
def _load(path: Path | None) -> DunningPolicy:
    if path is None:
        return parse_policy(DEFAULT_POLICY)
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    return parse_policy(data)
