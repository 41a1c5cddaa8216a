"""What the contract tests of the wire models share: the example events, and an example with one field changed."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from billing.contracts import dump_event, example_events, explain, parse_event

EXAMPLES = example_events()
JsonObject = dict[str, object]


def example_json(type_name: str) -> JsonObject:
    return json.loads(dump_event(EXAMPLES[type_name]))


def with_field(type_name: str, path: str, value: object) -> bytes:
    """The example of `type_name` with the dotted `path` set to `value`."""
    document = example_json(type_name)
    *parents, leaf = path.split(".")
    node: object = document
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]  # type: ignore[index]
    if isinstance(node, list):
        node[int(leaf)] = value
    else:
        node[leaf] = value  # type: ignore[index]
    return json.dumps(document).encode()


def rejected(raw: bytes) -> str:
    with pytest.raises(ValidationError) as caught:
        parse_event(raw)
    return explain(caught.value)
