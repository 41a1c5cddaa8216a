"""Validation helpers shared by the care modules that are built from plain
configuration dicts (routing rules, priority weights, widening policy).

Every message names the path of the offending entry, e.g.
``rules[2].when.min_open_disputes``, because whoever reads it is editing a
YAML file, not this code. Unknown keys are errors: a misspelt condition that
were silently ignored would make a rule match far more calls than intended.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any


class CareConfigError(ValueError):
    """A care configuration dict does not describe a valid setting."""


@dataclass(frozen=True)
class ConfigReader:
    """Reads config values, raising ``error`` (a CareConfigError subclass)."""

    error: type[CareConfigError]

    def fail(self, where: str, problem: str) -> CareConfigError:
        return self.error(f"{where}: {problem}")

    def mapping(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}")
        return value

    def items(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, (list, tuple)):
            raise self.fail(where, f"expected a list, got {type(value).__name__}")
        return list(value)

    def field(self, raw: Mapping[str, Any], key: str, where: str) -> Any:
        if key not in raw:
            raise self.fail(where, f"missing {key!r}")
        return raw[key]

    def integer(self, value: Any, where: str, minimum: int | None = None) -> int:
        # bool is an int subclass, but `true` is never a meaningful count or amount.
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"expected an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(where, f"must be at least {minimum}, got {value}")
        return value

    def flag(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"expected true or false, got {value!r}")
        return value

    def name(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"expected a non-empty name, got {value!r}")
        return value

    def only_known_keys(self, raw: Mapping[str, Any], known: Collection[str], where: str) -> None:
        unknown = sorted(str(key) for key in raw if key not in known)
        if unknown:
            raise self.fail(where, f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
