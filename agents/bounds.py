"""Bounds on what an agent reads besides the message itself: its work grows with them, and operators can send any
of it through ``POST /v1/agents/{name}/invoke``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

# A run's messages are at most 20,000 characters each (api.schemas.runs); the executor passes the last 20.
History = Annotated[
    list[Annotated[str, StringConstraints(max_length=20_000)]],
    Field(max_length=50, description="Earlier customer messages, oldest first (at most 50)."),
]

# An http(s) URL of an image or audio a client sends; no whitespace or control characters, spelled out: regex engines
# disagree on what \s covers.
MediaUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\x00-\x20\x7f-\x9f]+$", max_length=2000)]


class StrictInput(BaseModel):
    """An agent input the API serves as its request body: unknown keys and values of another JSON type are refused,
    as for every request model there (``api.schemas.common.StrictModel``)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def _json_integer(value: Any) -> Any:
    """JSON has one number type: ``600.0`` is the integer 600 (strict validation would refuse it)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _refuse_bool(value: Any) -> Any:
    """JSON's ``false`` is not the number 0 (Python's ``False == 0`` would let it pass as one)."""
    if isinstance(value, bool):
        raise ValueError("Input should be a number, not a boolean")
    return value


# ``Annotated[Literal[1, 2], NOT_BOOL]``: a numeric choice that ``true`` and ``false`` do not pass as.
NOT_BOOL = BeforeValidator(_refuse_bool)
# ``Annotated[int, Field(ge=..., le=...), JSON_INT]``: an integer of a ``StrictInput``, ``2`` or ``2.0``, not ``true`` or ``"2"``.
JSON_INT = BeforeValidator(_json_integer)
