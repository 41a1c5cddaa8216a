"""Turn pydantic errors into one line fit for logs and dead letters."""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from billing.contracts.envelope import EVENT_TYPES

MAX_EXPLANATION = 2000
_VALUE_ERROR_PREFIX = "Value error, "
# Discriminator errors have no location of their own; the culprit is `type`.
_TAG_ERRORS = frozenset({"union_tag_invalid", "union_tag_not_found"})


def explain(error: ValidationError) -> str:
    """`payload.quantity: Input should be ...; payload: unit 'byte' ...`.

    Input values are deliberately left out: they may hold phone numbers or
    e-mail addresses, and this text ends up in logs and dead-letter topics.
    """
    parts = [_describe(detail) for detail in error.errors(include_url=False)]
    return _truncate("; ".join(parts) or "invalid input", MAX_EXPLANATION)


def _describe(detail: ErrorDetails) -> str:
    message = detail["msg"].removeprefix(_VALUE_ERROR_PREFIX)
    location = _location(detail)
    return f"{location}: {message}" if location else message


def _location(detail: ErrorDetails) -> str:
    if detail["type"] in _TAG_ERRORS:
        return "type"
    # Pydantic prefixes union locations with the matched tag
    # ("usage.recorded.v1"); readers know the type already, so drop it.
    segments = [str(part) for part in detail["loc"] if part not in EVENT_TYPES]
    return ".".join(segments)


def _truncate(message: str, limit: int) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"
