"""The usage record the rating rule takes: the fields of a valid usage.recorded.v1 event that rating and storage
need, whichever decoder (src/billing/usage/fast_decode.py or pydantic) produced it."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple


class Usage(NamedTuple):
    """The fields of a valid usage.recorded.v1 event that rating and storage need (a NamedTuple: one is built
    per record, and a frozen dataclass costs several times as much to construct)."""

    event_id: str
    account_id: str
    record_id: str
    service: str
    quantity: int
    unit: str
    started_at: datetime
    occurred_at: datetime
    source: str
