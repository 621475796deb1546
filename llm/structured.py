"""Structured output: the schema instruction for providers without native JSON mode, parsing and validating the
answer, the repair prompt, and a deterministic minimal instance of a schema (what the offline provider answers).
"""

from __future__ import annotations

import json
import re
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from llm.errors import InvalidLLMRequest
from llm.types import ChatMessage

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def check_schema(schema: dict[str, Any]) -> None:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InvalidLLMRequest(f"json_schema is not a valid JSON Schema: {exc.message}") from None


def schema_instruction(schema: dict[str, Any]) -> str:
    return (
        "Answer with one JSON value only (no prose, no code fences) that is valid against this JSON Schema:\n"
        + json.dumps(schema, ensure_ascii=False)
    )


def parse_structured(text: str, schema: dict[str, Any]) -> tuple[Any, str | None]:
    """(data, None) when ``text`` is JSON valid against ``schema`` (a code fence around it is tolerated), else (None, why)."""
    fenced = _FENCE.match(text)
    try:
        data = json.loads(fenced.group(1) if fenced else text)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc}"
    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda error: list(error.path))
    if errors:
        return None, "; ".join(f"{'/'.join(map(str, error.path)) or '<root>'}: {error.message}" for error in errors[:5])
    return data, None


def repair_messages(messages: list[ChatMessage], invalid_output: str, problem: str) -> list[ChatMessage]:
    """The conversation plus the invalid answer and what is wrong with it, for one repair try."""
    return [
        *messages,
        ChatMessage(role="assistant", content=invalid_output),
        ChatMessage(
            role="user",
            content=f"That answer does not match the required JSON Schema ({problem}). "
            "Reply again with only the corrected JSON.",
        ),
    ]


def minimal_instance(schema: dict[str, Any]) -> Any:
    """A small value valid against common schemas: default, const, first enum value, else the type's
    zero value with every required property (and minItems items) filled in.
    """
    for key in ("default", "const"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return minimal_instance(schema[key][0])
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((candidate for candidate in kind if candidate != "null"), "null")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: minimal_instance(properties.get(name, {})) for name in schema.get("required", [])}
    if kind == "array":
        return [minimal_instance(schema.get("items", {})) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        return "" if not schema.get("minLength") else "-" * schema["minLength"]
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1)
        return max(low, 0) if "maximum" not in schema else min(max(low, 0), schema["maximum"])
    if kind == "boolean":
        return False
    return None
