"""The settings table of docs/operations.md, generated from the Settings class so the two cannot disagree."""

from __future__ import annotations

from billing.platform.settings import PROJECT_ROOT, Settings


def _default(value: object) -> str:
    if value is None:
        return "(unset)"
    text = str(value)
    return text.replace(str(PROJECT_ROOT), ".") if text.startswith(str(PROJECT_ROOT)) else text


def settings_table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `{name.upper()}` | `{_default(field.default)}` | {field.description or ''} |")
    return "\n".join(rows)
