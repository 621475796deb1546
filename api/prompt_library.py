"""Built-in prompt templates and the checks run on a prompt_config before it is saved."""

from __future__ import annotations

import re
import string
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from api.schemas.prompts import PromptConfig, PromptTemplate, ValidationIssue

ALLOWED_PLACEHOLDERS: frozenset[str] = frozenset({
    "assistant_name", "nickname", "occupation", "brand_name", "customer_name",
    "customer_nickname", "current_time", "products", "memories", "industry",
})

# Free-text instructions the model follows; these are screened for advertising-law problems.
INSTRUCTION_FIELDS = (
    "personality_prompt", "greeting_prompt", "product_recommendation_prompt",
    "objection_handling_prompt", "closing_prompt", "context_instructions",
    "brand_voice", "product_knowledge",
)

# One pattern per category (China Advertising Law and the medical/cosmetics advertising rules).
ADVERTISING_RULES: dict[str, str] = {
    "absolute_terms": r"最(佳|优|安全|有效|先进|专业|权威|低价|便宜|强|顶尖|高端|好的|好用)|效果最好|全网最低"
                      r"|第一(?!次|步|时间|天|周|个|阶段|印象|疗程|条|位|项)|顶级|国家级|世界级|唯一|万能|百分之?百|100%",
    "efficacy_guarantee": r"(保证|承诺)[^，,。；;]{0,6}(效果|见效|疗效|变美|满意)|确保(你|您)?(一定|能)*(看到|有)(效果|变化)"
                          r"|包(你|您)?有?(效果|见效|满意|变美)|效果有?保证|一次(就)?见效|立竿见影|永久|根治"
                          r"|无效退款|不满意退款|彻底(消除|去除|根除)",
    "safety_guarantee": r"无副作用|零(风险|副作用)|绝对安全|百分之?百安全|无痛|零痛感"
                        r"|(没有|不会有|无)任何(风险|副作用|不良反应)",
    "cure_rate": r"(治愈|有效|成功)率",
    "before_after": r"术前术后(对比|照|图|效果)|前后对比|对比(图|照)|(治疗|使用|术)前后的?(照片|图片|效果图)",
    "endorsement": r"(明星|网红|名人|专家|医生|院长|权威|患者|顾客)(同款|推荐|力荐|都在用|背书|证明|亲测)|代言",
    "appearance_anxiety": r"不整容就|不(做|打|整)[^，,。]{0,6}就(会|要)?(变|显)?(丑|老)|(长得|显得|太|很|变|越来越)丑"
                          r"|丑(陋|死)|显老.{0,10}没人|没人(喜欢|要|看得上)",
    "medical_claims_cosmetics": r"药妆|医学(级)?护肤|处方级护肤",
    "loan_inducement": r"医美贷|(零|0)首付|先(做|美)后付|分期.{0,6}(诱导|免息|(0|零)利息)|(免息|(0|零)利息).{0,4}分期",
    "comparison": r"比(其他|别家|别的|同行|隔壁|外面).{0,8}(好|强|便宜|安全|专业|正规)"
                  r"|(其他|别家|同行|外面)的?(机构|医院|诊所|品牌).{0,6}(不正规|黑心|坑人|水货|假货|不专业)",
}
_RULES = {cat: re.compile(p, re.IGNORECASE) for cat, p in ADVERTISING_RULES.items()}
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


def advertising_violations(text: str) -> list[tuple[str, str]]:
    """(category, matched text) for each claim the text asks for; forbidden claims are skipped."""
    found: list[tuple[str, str]] = []
    for clause in _CLAUSE.split(text):
        for category, rule in _RULES.items():
            for m in rule.finditer(clause):
                if not _NEGATOR.search(clause[: m.start()]):
                    found.append((category, m.group(0)))
    return found


def _advertising_issues(field: str, text: str) -> list[ValidationIssue]:
    seen: set[str] = set()
    issues = []
    for category, matched in advertising_violations(text):
        if category not in seen:
            seen.add(category)
            issues.append(ValidationIssue(field=field, code="ADVERTISING_RULE", severity="error",
                                          message=f"{category}: instruction asks for a prohibited claim ({matched!r})"))
    return issues


def validate_prompt_config(config: dict[str, Any]) -> list[ValidationIssue]:
    """Every problem in a prompt_config: structure/length, placeholders and advertising-law claims."""
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
            issues.extend(_advertising_issues(field, text))
    return issues
