"""Structured output: the schema instruction for providers without native JSON mode, parsing and validating the
answer, the repair prompt, and a deterministic minimal instance of a schema (what the offline provider answers).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

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
    if (problem := ref_problem(schema)) is not None:
        raise InvalidLLMRequest(f"json_schema cannot be used: {problem}")


# Keywords whose subschemas apply to the same value (a loop through only these never ends), and the others.
_IN_PLACE = ("allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas")
_DESCENDING = ("properties", "patternProperties", "additionalProperties", "propertyNames", "unevaluatedProperties",
               "items", "prefixItems", "additionalItems", "contains", "unevaluatedItems", "dependencies", "$defs", "definitions")
_MISSING = object()


def ref_problem(schema: dict[str, Any]) -> str | None:
    """Why validating against ``schema`` could fail to resolve a ``$ref`` or recurse forever, else None.

    Every ``$ref`` must be a local JSON pointer (``#``, ``#/$defs/item``) that resolves, with no ``$id`` below the
    root to change what it points to; and no chain of ``$ref`` and in-place keywords (allOf, anyOf, not...) may lead
    back to a schema it started from without descending into the value, as ``{"$ref": "#"}`` does. Recursive
    schemas that descend (a tree whose ``children`` items are ``{"$ref": "#"}``) are fine.
    """
    in_place: dict[int, list[Any]] = {}  # id of every schema reachable from the root -> its in-place subschemas
    pending: list[Any] = [schema]
    while pending:
        node = pending.pop()
        if not isinstance(node, dict) or id(node) in in_place:
            continue
        if (node is not schema and "$id" in node) or "$dynamicRef" in node or "$recursiveRef" in node:
            return "$id below the root, $dynamicRef and $recursiveRef are not supported"
        targets = list(_subschemas(node, _IN_PLACE))
        if "$ref" in node:
            target = _resolve(schema, node["$ref"])
            if target is _MISSING:
                return f"$ref {node['$ref']!r} is not a local JSON pointer (#/...) that resolves"
            targets.append(target)
        in_place[id(node)] = targets
        pending += [*targets, *_subschemas(node, _DESCENDING)]
    done: set[int] = set()
    for start in in_place:  # depth-first over in-place edges: meeting a schema on the current path is a loop
        path, children = [start], [iter(in_place[start])]
        while children:
            child = next(children[-1], None)
            if child is None:
                done.add(path.pop())
                children.pop()
            elif isinstance(child, dict) and id(child) not in done:
                if id(child) in path:
                    return "a $ref leads back to where it started without descending into the value (it would never end)"
                path.append(id(child))
                children.append(iter(in_place[id(child)]))
    return None


def _subschemas(node: dict[str, Any], keywords: tuple[str, ...]) -> Iterator[Any]:
    for keyword in keywords:
        value = node.get(keyword)
        if isinstance(value, list):
            yield from value
        elif isinstance(value, dict) and keyword in ("properties", "patternProperties", "dependentSchemas", "dependencies", "$defs", "definitions"):
            yield from value.values()
        elif value is not None:
            yield value


def _resolve(root: dict[str, Any], ref: Any) -> Any:
    if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
        return _MISSING
    target: Any = root
    for token in ref[2:].split("/") if ref != "#" else ():
        token = unquote(token).replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and token in target:
            target = target[token]
        elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
            target = target[int(token)]
        else:
            return _MISSING
    return target


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
