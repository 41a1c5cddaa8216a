"""Rated-usage input: one call detail record (CDR) from mediation."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Self

from pydantic import StringConstraints, model_validator

from billing.contracts.base import AccountId, Count, FrozenModel, Identifier, Text64, UtcDatetime


class ServiceKind(StrEnum):
    VOICE = "voice"
    SMS = "sms"
    DATA = "data"


class UsageUnit(StrEnum):
    SECOND = "second"
    MESSAGE = "message"
    BYTE = "byte"


# Adding a ServiceKind means adding its unit here; a test checks coverage so a
# new service cannot ship without deciding how it is measured.
UNIT_FOR_SERVICE: Mapping[ServiceKind, UsageUnit] = {
    ServiceKind.VOICE: UsageUnit.SECOND,
    ServiceKind.SMS: UsageUnit.MESSAGE,
    ServiceKind.DATA: UsageUnit.BYTE,
}

Msisdn = Annotated[str, StringConstraints(pattern=r"^[0-9]{5,15}$")]


class UsageRecorded(FrozenModel):
    """One call detail record from mediation: voice seconds, SMS messages or data bytes of one account."""

    account_id: AccountId
    record_id: Identifier
    service: ServiceKind
    quantity: Count
    unit: UsageUnit
    started_at: UtcDatetime
    msisdn: Msisdn | None = None
    destination: Text64 | None = None

    @model_validator(mode="after")
    def _unit_matches_service(self) -> Self:
        # Rating multiplies quantity by a per-unit price; a voice record in
        # bytes would be priced wildly wrong rather than fail loudly.
        expected = UNIT_FOR_SERVICE[self.service]
        if self.unit is not expected:
            raise ValueError(f"unit '{self.unit}' does not match service '{self.service}' (expected unit '{expected}')")
        return self
