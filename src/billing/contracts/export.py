"""Write JSON Schema files so non-Python producers can validate their output."""

from __future__ import annotations

import json
from pathlib import Path

from billing.contracts.dead_letters import DeadLetter
from billing.contracts.envelope import EVENT_ADAPTER, EVENT_TYPES
from billing.contracts.examples import example_events

__all__ = ["example_events", "export_json_schemas"]


def export_json_schemas(directory: Path) -> list[Path]:
    """One schema per event type, `event.json` for the union and
    `dead-letter.json`; returns the written paths, sorted."""
    directory.mkdir(parents=True, exist_ok=True)
    schemas: dict[str, dict[str, object]] = {name: cls.model_json_schema() for name, cls in EVENT_TYPES.items()}
    schemas["event"] = EVENT_ADAPTER.json_schema()
    schemas["dead-letter"] = DeadLetter.model_json_schema()
    return sorted(_write(directory / f"{name}.json", s) for name, s in schemas.items())


def _write(path: Path, schema: dict[str, object]) -> Path:
    # Sorted keys and a trailing newline keep committed schemas diff-friendly.
    path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
