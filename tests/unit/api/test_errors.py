from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, ValidationError

from billing.contracts.tasks import TaskOutcome
from billing.entrypoints.api.errors import readable_validation


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: TaskOutcome
    discount_minor: int = 0


def validation_error(payload: dict) -> RequestValidationError:
    try:
        Body.model_validate(payload)
    except ValidationError as exc:
        return RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])
    raise AssertionError("the payload was valid")


def test_validation_errors_read_as_one_sentence_naming_the_fields() -> None:
    message = readable_validation(validation_error({"outcome": "happy", "extra": 1}))
    assert message.startswith("outcome: Input should be 'resolved', 'follow_up' or 'transferred'")
    assert "extra: Extra inputs are not permitted" in message


def test_a_missing_field_is_named() -> None:
    assert readable_validation(validation_error({})) == "outcome: Field required"


def test_at_most_five_problems_are_listed() -> None:
    errors = RequestValidationError([{"loc": ("body", f"f{i}"), "msg": "bad"} for i in range(9)])
    assert readable_validation(errors).count("bad") == 5
