"""Every amount a request or an event carries is bounded by MAX_AMOUNT_MINOR, every other integer by what JSON
and PostgreSQL's bigint hold, and every text field refuses what PostgreSQL cannot store (NUL, lone surrogates).

Read from the models themselves (the event types' JSON Schemas, the API's routes), so a field added later without
its bound fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError

from billing.contracts.base import JSON_SAFE_MAX, Text64, Text500
from billing.contracts.envelope import EVENT_TYPES
from billing.contracts.invoices import InvoiceLine
from billing.contracts.money import MAX_AMOUNT_MINOR
from billing.entrypoints.api.app import create_app
from billing.platform.settings import load_settings

UNSTORABLE = ["a\x00b", "\x00", "x\ud800", "\udfff"]


def integers(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, dict]]:
    """(path, schema) of every integer in a JSON Schema, through properties, $defs, anyOf and items."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            yield path, node
        for key, value in node.items():
            yield from integers(value, (*path, key))
    elif isinstance(node, list):
        for value in node:
            yield from integers(value, path)


def is_amount(path: tuple) -> bool:
    return any(str(part).endswith("_minor") for part in path)


def test_every_integer_of_every_event_is_bounded_and_amounts_by_the_documented_maximum() -> None:
    amounts = 0
    for name, model in EVENT_TYPES.items():
        for path, schema in integers(model.model_json_schema()):
            if "const" in schema or "enum" in schema:
                continue  # schema_version, tiers
            assert schema.get("maximum", JSON_SAFE_MAX + 1) <= JSON_SAFE_MAX, (name, path)
            if is_amount(path):
                amounts += 1
                assert schema["maximum"] <= MAX_AMOUNT_MINOR, (name, path)
                assert schema.get("minimum", schema.get("exclusiveMinimum")) >= -MAX_AMOUNT_MINOR, (name, path)
    assert amounts >= 10, "the walk found the amounts (Money, line amounts, totals, discounts)"


@pytest.fixture(scope="module")
def app():
    return create_app(load_settings())  # nothing is connected until a request needs it


def test_every_amount_an_api_request_carries_is_bounded_by_the_documented_maximum(app) -> None:
    for path, operations in app.openapi()["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                for where, schema in integers(parameter.get("schema", {}), (parameter["name"],)):
                    assert schema.get("maximum") is not None, (path, where)
    components = app.openapi()["components"]["schemas"]
    amounts = [
        (name, where, schema)
        for name, body in components.items()
        for where, schema in integers(body)
        if is_amount(where)
    ]
    assert {name for name, *_ in amounts} >= {"Completion", "DisputeRequest", "DiscountBody", "ResolveBody"}
    for name, where, schema in amounts:
        assert schema.get("maximum") == MAX_AMOUNT_MINOR, (name, where)
        assert schema.get("minimum", schema.get("exclusiveMinimum")) >= 0, (name, where)


def route_params(dependant) -> Iterator[Any]:
    yield from (*dependant.path_params, *dependant.query_params, *dependant.body_params)
    for sub in dependant.dependencies:
        yield from route_params(sub)


def api_routes(routes) -> Iterator[APIRoute]:
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)
        elif isinstance(route, APIRoute):
            yield route


def string_samples(schema: dict, components: dict) -> Iterator[tuple[str, Any]]:
    """(field, a value holding NUL) for every string field of a request body, lists of strings too."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    for name, prop in schema.get("properties", {}).items():
        kinds = prop.get("anyOf", [prop])
        if any(k.get("type") == "string" and "enum" not in k for k in kinds):
            yield name, "a\x00b"
        if any(k.get("type") == "array" and k.get("items", {}).get("type") == "string" for k in kinds):
            yield name, ["a\x00b"]


def test_every_text_an_api_request_carries_refuses_what_postgresql_cannot_store(app) -> None:
    components = app.openapi()["components"]["schemas"]
    checked = set()
    for route in api_routes(app.routes):
        for field in route_params(route.dependant):
            schema = TypeAdapter(field.field_info.annotation).json_schema(ref_template="#/components/schemas/{model}")
            if field in route.dependant.body_params:
                for name, value in string_samples(schema, {**components, **schema.get("$defs", {})}):
                    with pytest.raises(ValidationError) as refused:
                        TypeAdapter(field.field_info.annotation).validate_python({name: value})
                    assert any(error["loc"][:1] == (name,) for error in refused.value.errors()), (route.path, name)
                    checked.add((route.path, name))
            elif any(k.get("type") == "string" for k in schema.get("anyOf", [schema])):
                _, errors = field.validate("a\x00b", {}, loc=(field.name,))
                assert errors, (route.path, field.name)
                checked.add((route.path, field.name))
    assert {
        ("/tasks/{task_id}/disputes", "note"),
        ("/tasks/{task_id}/discounts", "criteria"),
        ("/tasks/{task_id}/refuse", "reason"),
        ("/calls/{call_id}/verify", "call_id"),
    } <= checked


@pytest.mark.parametrize("text", UNSTORABLE)
def test_free_text_types_refuse_nul_and_lone_surrogates(text: str) -> None:
    for alias in (Text64, Text500):
        with pytest.raises(ValidationError):
            TypeAdapter(alias).validate_python(text)
    with pytest.raises(ValidationError, match="description"):
        InvoiceLine(line_id="l1", kind="usage", description=text, amount_minor=1)


def test_free_text_keeps_everything_else() -> None:
    for text in ("Roaming, Zürich ☎", "emoji \U0001f600", "tab\tand newline\n"):
        assert TypeAdapter(Text500).validate_python(text) == text
