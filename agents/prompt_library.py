"""Built-in prompt templates and the checks run on a prompt_config before it is saved."""

from __future__ import annotations

import re
import string
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from agents.compliance import ComplianceAgent
from agents.prompt_config import PromptConfig


class ValidationIssue(BaseModel):
    """One problem found in a prompt_config (an ``error`` refuses the save)."""

    field: str
    code: str
    message: str
    severity: Literal["error", "warning"] = "error"


class PromptTemplate(BaseModel):
    """A built-in starting point for a prompt (configs/prompts/templates.yaml)."""

    template_id: str
    category: str
    name: str
    description: str
    prompt_config: dict[str, Any]


ALLOWED_PLACEHOLDERS: frozenset[str] = frozenset({
    "assistant_name", "nickname", "occupation", "brand_name", "customer_name",
    "customer_nickname", "current_time", "products", "memories", "industry",
})

# Free-text instructions the model follows; these are screened with the compliance rule packs.
INSTRUCTION_FIELDS = (
    "personality_prompt", "greeting_prompt", "product_recommendation_prompt",
    "objection_handling_prompt", "closing_prompt", "context_instructions",
    "brand_voice", "product_knowledge",
)

# Instructions that forbid a claim ("不要说最好", "避免承诺效果") are not asking for it.
_NEGATOR = re.compile(r"不要|不得|不能|不可|不应|不许|不准|不允许|不宜|禁止|禁用|严禁|避免|切勿|勿|杜绝|拒绝"
                      r"|别(说|讲|提|用|承诺|宣称)|不(使用|承诺|宣称|夸大|说|提)")
_CLAUSE = re.compile(r"[。；;！!？?\n，,]")

_PYDANTIC_CODES = {"extra_forbidden": "UNKNOWN_FIELD", "missing": "REQUIRED",
                   "string_too_long": "TOO_LONG", "too_long": "TOO_LONG"}


@lru_cache(maxsize=8)
def _load(path: str) -> tuple[PromptTemplate, ...]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
        items = data["templates"] if isinstance(data, dict) else data
        templates = tuple(PromptTemplate.model_validate(t) for t in items)
        for t in templates:
            PromptConfig.model_validate(t.prompt_config)
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValidationError) as exc:
        raise ValueError(f"invalid prompt template file {path}: {exc}") from exc
    ids = [t.template_id for t in templates]
    if len(ids) != len(set(ids)):
        raise ValueError(f"invalid prompt template file {path}: duplicate template_id")
    return templates


def load_templates(config_dir: Path) -> list[PromptTemplate]:
    """Templates from ``config_dir/prompts/templates.yaml`` (parsed once per path)."""
    return list(_load(str((Path(config_dir) / "prompts" / "templates.yaml").resolve())))


def _text_fields(config: dict[str, Any]) -> list[tuple[str, str]]:
    """Every string in the config as (dotted field, text), list items included."""
    out: list[tuple[str, str]] = []
    for key, value in config.items():
        if isinstance(value, str):
            out.append((key, value))
        elif isinstance(value, list):
            out.extend((f"{key}.{i}", v) for i, v in enumerate(value) if isinstance(v, str))
    return out


def _placeholder_issues(field: str, text: str) -> list[ValidationIssue]:
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        return [ValidationIssue(field=field, code="MALFORMED_PLACEHOLDER", severity="error",
                                message=f"unbalanced braces ({exc}); write {{{{ or }}}} for a literal brace")]
    issues = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec or conversion:
            issues.append(ValidationIssue(field=field, code="MALFORMED_PLACEHOLDER", severity="error",
                                          message=f"placeholder {{{name}}} may not carry a format spec or conversion"))
        if name not in ALLOWED_PLACEHOLDERS:
            issues.append(ValidationIssue(field=field, code="UNKNOWN_PLACEHOLDER", severity="error",
                                          message=f"unknown placeholder {{{name}}}; allowed: "
                                                  + ", ".join(sorted(ALLOWED_PLACEHOLDERS))))
    return issues


def advertising_violations(text: str, config_dir: Path) -> list[tuple[str, str]]:
    """(category, matched text) for each claim the text asks for, as the compliance packs of ``config_dir`` see a
    reply; a claim the instruction forbids earlier in the same clause is skipped."""
    found: list[tuple[str, str]] = []
    for violation in ComplianceAgent.load(Path(config_dir) / "compliance").check_text(text, channel="chat", direction="output").violations:
        clause_start = max((m.end() for m in _CLAUSE.finditer(text, 0, violation.span.start)), default=0)
        if not _NEGATOR.search(text, clause_start, violation.span.start):
            found.append((violation.category, violation.span.text))
    return found


def _advertising_issues(field: str, text: str, config_dir: Path) -> list[ValidationIssue]:
    seen: set[str] = set()
    issues = []
    for category, matched in advertising_violations(text, config_dir):
        if category not in seen:
            seen.add(category)
            issues.append(ValidationIssue(field=field, code="ADVERTISING_RULE", severity="error",
                                          message=f"{category}: instruction asks for a prohibited claim ({matched!r})"))
    return issues


def validate_prompt_config(config: dict[str, Any], config_dir: Path) -> list[ValidationIssue]:
    """Every problem in a prompt_config: structure/length, placeholders and advertising-law claims (judged by the
    compliance packs under ``config_dir``)."""
    issues: list[ValidationIssue] = []
    try:
        PromptConfig.model_validate(config)
    except ValidationError as exc:
        for err in exc.errors():
            issues.append(ValidationIssue(
                field=".".join(str(p) for p in err["loc"]) or "prompt_config",
                code=_PYDANTIC_CODES.get(err["type"], "INVALID_FIELD"),
                message=err["msg"], severity="error"))
    for field, text in _text_fields(config):
        issues.extend(_placeholder_issues(field, text))
        if field in INSTRUCTION_FIELDS:
            issues.extend(_advertising_issues(field, text, config_dir))
    return issues
