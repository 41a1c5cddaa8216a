"""Building blocks shared by every wire model in this package."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

# Integers beyond 2**53 lose precision in JavaScript and other float-based JSON
# readers; refusing them here is cheaper than a silent rounding downstream.
JSON_SAFE_MAX = 2**53 - 1

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class FrozenModel(BaseModel):
    """Base for every message: immutable facts with no room for unknown keys.

    `extra="forbid"` stops producers from smuggling fields past review
    (mass assignment); `frozen` keeps processors from editing shared facts.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")


Identifier = Annotated[str, StringConstraints(pattern=_ID_PATTERN)]
EventId = Annotated[str, StringConstraints(pattern=_ID_PATTERN)]
AccountId = Annotated[str, StringConstraints(pattern=_ID_PATTERN)]

E164Number = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")]

# Counts (seconds, messages, bytes) are exact; strict so 1.5 or "3" never
# sneaks in through pydantic's lax coercion.
Count = Annotated[int, Field(strict=True, ge=0, le=JSON_SAFE_MAX)]


def _reject_numbers(value: object) -> object:
    # Lax pydantic reads numbers as Unix time and guesses seconds versus
    # milliseconds; a billing system must not guess when something happened.
    if isinstance(value, (int, float)):
        raise ValueError("expected an ISO 8601 string, not a number")
    return value


def _to_utc(value: datetime) -> datetime:
    # One canonical zone keeps equality, ordering and dumps stable.
    return value.astimezone(UTC)


def _date_only(value: object) -> object:
    # A timestamp handed to a date field would silently drop its offset and
    # could shift the billing day; insist on the plain calendar form.
    if isinstance(value, datetime):
        raise ValueError("expected a date, not a datetime")
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("expected a date as YYYY-MM-DD")
    return _reject_numbers(value)


UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_reject_numbers), AfterValidator(_to_utc)]
IsoDate = Annotated[date, BeforeValidator(_date_only)]


# What no text column can hold: NUL (PostgreSQL's text and jsonb refuse it), and any code point from U+D800 to
# U+DFFF left in a decoded str, which is unpaired (a JSON pair like \ud83d\ude00 decodes to one character) and
# which UTF-8 cannot encode.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value: str) -> str:
    # Refused here as malformed input rather than failing later in a database write (a 500, or a poison event).
    found = UNSTORABLE.search(value)
    if found is not None:
        what = "a NUL character" if found.group() == "\x00" else "an unpaired surrogate"
        raise ValueError(f"text must not contain {what}")
    return value


# Text that can be stored and sent on: every free-text type below, in events and API requests alike, ends with it.
STORABLE = AfterValidator(_storable)
PlainText = Annotated[str, STORABLE]

# Bounded free text, non-empty because a blank value carries no meaning.
# Named aliases (not a factory) so static type checkers can follow them.
Text64 = Annotated[str, StringConstraints(min_length=1, max_length=64), STORABLE]
Text128 = Annotated[str, StringConstraints(min_length=1, max_length=128), STORABLE]
Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200), STORABLE]
Text500 = Annotated[str, StringConstraints(min_length=1, max_length=500), STORABLE]
Text2000 = Annotated[str, StringConstraints(min_length=1, max_length=2000), STORABLE]
