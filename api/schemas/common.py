"""Shared pieces of the request/response models."""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

T = TypeVar("T")

NonBlank = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
TenantId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")]
# JSON Schema for "a list of chat messages with at least one from the user" (``contains``).
USER_TURN = {"type": "object", "properties": {"role": {"const": "user"}}, "required": ["role"]}

# Bounds on what clients send. Integers that name rows (versions) fit PostgreSQL's INTEGER; pages stay far from
# an offset that overflows 64 bits. Free-form JSON (metadata, profiles, schemas) is bounded like a document.
MAX_INT32 = 2**31 - 1
MAX_PAGE = 1_000_000
JSON_MAX_DEPTH = 32  # objects and arrays, one inside the other
JSON_MAX_VALUES = 1000  # keys and array items, at every level together
JSON_MAX_BYTES = 64 * 1024  # serialized (UTF-8, compact)
BODY_MAX_DEPTH = 64  # a whole request body: room for a free-form field inside the request's own structure
# PostgreSQL stores no NUL in text or JSONB, and UTF-8 cannot encode a lone surrogate (``"\ud800"`` in JSON).
_UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")
JsonPath = tuple[str | int, ...]


def json_problem(value: Any, max_depth: int, max_values: int | None = None) -> tuple[JsonPath, str] | None:
    """The first part of parsed JSON this API refuses, as (where, why); None when there is none.

    Refused: nesting deeper than ``max_depth``, more than ``max_values`` keys and items, numbers that are not
    finite (``NaN``, ``Infinity``, ``1e309``: JSON has none of them) and text (keys too) holding NUL or a lone surrogate.
    Iterative, so any depth that could be parsed can be checked.
    """
    stack: list[tuple[Any, JsonPath, int]] = [(value, (), 1)]
    values = 0
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > max_depth:
                return path, f"nested deeper than {max_depth} levels"
            values += len(node)
            if max_values is not None and values > max_values:
                return path, f"more than {max_values} keys and items in all"
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                if isinstance(key, str) and _UNSTORABLE_TEXT.search(key):
                    return path, "a key holds NUL or an unpaired surrogate"
                stack.append((child, (*path, key), depth + 1))
        elif isinstance(node, str) and _UNSTORABLE_TEXT.search(node):
            return path, "text may not hold NUL or an unpaired surrogate"
        elif isinstance(node, float) and not math.isfinite(node):
            return path, "numbers must be finite (no NaN or Infinity)"
    return None


def _bounded_json(value: Any) -> Any:
    problem = json_problem(value, JSON_MAX_DEPTH, JSON_MAX_VALUES)
    if problem is None and len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()) > JSON_MAX_BYTES:
        problem = (), f"larger than {JSON_MAX_BYTES} bytes as JSON"
    if problem is not None:
        path, why = problem
        where = "/".join(map(str, path))
        raise PydanticCustomError("json_bounds", "{why}" + (" (at {where})" if where else ""), {"why": why, "where": where})
    return value


# Every free-form JSON object a client sends (metadata, profiles, schemas): at most JSON_MAX_DEPTH levels deep,
# JSON_MAX_VALUES keys and items, JSON_MAX_BYTES; finite numbers; no NUL or unpaired surrogates in text.
JsonObject = Annotated[dict[str, Any], AfterValidator(_bounded_json)]


class JsonInteger:
    """``Annotated[int, Field(ge=...), JsonInteger()]``: an integer as JSON Schema has them, ``2`` or ``2.0``
    but not ``true`` or ``"2"`` (lax validation coerces those, strict refuses ``2.0``). Constraints go first."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        schema = handler(source)
        schema["strict"] = False  # type: ignore[typeddict-unknown-key]
        return core_schema.no_info_before_validator_function(_refuse_bool_and_str, schema)


def _refuse_bool_and_str(value: Any) -> Any:
    if isinstance(value, (bool, str)):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


class StrictModel(BaseModel):
    """Requests reject unknown fields, so a typo is a 422 instead of a silently ignored setting, and values
    of another JSON type (``0`` for a boolean, ``"5"`` or ``false`` for a number) instead of coercing them.
    JSON carries enum members as their values: enum fields say ``Field(strict=False)``; integers use ``JsonInteger``.

    Fields named in ``not_nullable`` may be omitted (they read as None) but not sent as null, and the
    JSON schema says so: their type there has no null and no default.
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    not_nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _refuse_explicit_null(self) -> "StrictModel":
        nulls = sorted(name for name in self.model_fields_set if name in self.not_nullable and getattr(self, name) is None)
        if nulls:
            raise ValueError(f"these fields cannot be null: {', '.join(nulls)}")
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(core_schema)
        properties = handler.resolve_ref_schema(json_schema).get("properties", {})
        for name in cls.not_nullable:
            _drop_null(properties[cls.model_fields[name].alias or name])
        return json_schema


def _drop_null(prop: dict[str, Any]) -> None:
    """``{"anyOf": [T, {"type": "null"}], "default": null}`` becomes ``T``."""
    prop.pop("default", None)
    variants = [variant for variant in prop.pop("anyOf", []) if variant != {"type": "null"}]
    if len(variants) == 1:
        prop.update(variants[0])
    elif variants:
        prop["anyOf"] = variants


class OrmModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


class PatchModel(StrictModel):
    """A partial update: omitted fields stay as they are; explicit null is refused where a value is required."""

    def changes(self) -> dict[str, Any]:
        """The fields the client actually sent, JSON-ready (enums as their values)."""
        return self.model_dump(exclude_unset=True, mode="json")


class PageQuery(BaseModel):
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(20, ge=1, le=100)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size
