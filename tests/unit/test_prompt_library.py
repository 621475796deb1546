"""Prompt template library and prompt_config validation."""

from __future__ import annotations

import string
from collections import Counter
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from agents.prompt_library import (
    ALLOWED_PLACEHOLDERS,
    load_templates,
    validate_prompt_config,
)
from api.schemas.prompts import PromptConfig, PromptValidateRequest, PromptVersionOut
from tests.config_paths import CONFIG_DIR

BASE = {"personality_prompt": "你是{brand_name}的顾问{assistant_name}，语气亲切。"}


def _issues(**fields):
    return validate_prompt_config({**BASE, **fields}, CONFIG_DIR)


def _codes(issues):
    return {(i.field, i.code) for i in issues}


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


# ------------------------------------------------------------------ templates

def test_templates_cover_the_four_categories_twice():
    templates = load_templates(CONFIG_DIR)
    assert Counter(t.category for t in templates) == {
        "medical_aesthetics": 2, "skincare": 2, "makeup": 2, "after_care": 2}
    assert len({t.template_id for t in templates}) == len(templates)


@pytest.mark.parametrize("template", load_templates(CONFIG_DIR), ids=lambda t: t.template_id)
def test_every_template_validates_cleanly(template):
    assert validate_prompt_config(template.prompt_config, CONFIG_DIR) == []
    config = PromptConfig.model_validate(template.prompt_config)
    assert config.greeting_prompt and config.closing_prompt and config.safety_guidelines
    assert config.llm_parameters is not None and config.llm_parameters.temperature is not None
    used = {name for text in _strings(template.prompt_config)
            for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    assert used and used <= ALLOWED_PLACEHOLDERS


def test_templates_are_cached_per_path():
    assert load_templates(CONFIG_DIR)[0] is load_templates(CONFIG_DIR)[0]


@pytest.mark.parametrize("content", [
    "templates:\n  - template_id: x\n    name: [unclosed\n",              # not YAML
    "templates:\n  - template_id: x\n    category: makeup\n",             # missing fields
    "templates:\n  - template_id: x\n    category: makeup\n    name: n\n    description: d\n"
    "    prompt_config: {greeting_prompt: hi}\n",                          # no personality_prompt
    "just a string\n",
])
def test_broken_template_file_raises_value_error_naming_it(tmp_path, content):
    path = tmp_path / "prompts" / "templates.yaml"
    path.parent.mkdir()
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="templates.yaml"):
        load_templates(tmp_path)


def test_missing_template_file_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="templates.yaml"):
        load_templates(tmp_path)


# ------------------------------------------------------------------ placeholders

def test_allowed_placeholders_and_literal_braces_pass():
    text = "{customer_nickname}您好，现在是{current_time}。回复格式示例：{{\"intent\": \"预约\"}}"
    assert _issues(greeting_prompt=text, context_instructions="{memories}\n{products}") == []


def test_unknown_placeholder_is_reported_with_its_field():
    issues = _issues(greeting_prompt="{customer_nickname}您好，看到您{customer_age}岁了")
    assert _codes(issues) == {("greeting_prompt", "UNKNOWN_PLACEHOLDER")}
    assert "customer_age" in issues[0].message and issues[0].severity == "error"


def test_placeholder_in_list_item_is_reported_with_index():
    issues = _issues(safety_guidelines=["遵守广告法", "提醒{patient_history}"])
    assert _codes(issues) == {("safety_guidelines.1", "UNKNOWN_PLACEHOLDER")}


@pytest.mark.parametrize("text", ["您好{customer_nickname", "价格区间为 100} 元", "{brand_name}{", "{}"])
def test_malformed_or_empty_placeholder(text):
    codes = {i.code for i in _issues(closing_prompt=text)}
    assert codes & {"MALFORMED_PLACEHOLDER", "UNKNOWN_PLACEHOLDER"}
    assert all(i.field == "closing_prompt" for i in _issues(closing_prompt=text))


def test_unbalanced_brace_is_malformed():
    assert _codes(_issues(objection_handling_prompt="结尾多了一个 { 括号")) == {
        ("objection_handling_prompt", "MALFORMED_PLACEHOLDER")}


def test_format_spec_on_placeholder_is_malformed():
    assert ("greeting_prompt", "MALFORMED_PLACEHOLDER") in _codes(_issues(greeting_prompt="{brand_name!r}"))


# ------------------------------------------------------------------ advertising rules

CASES = {
    "absolute_terms": (
        ["介绍时要强调我们是本市最专业的皮肤管理中心", "告诉客户这款精华在行业里排名第一", "可以说我们用的是顶级进口设备"],
        ["回复中严禁出现“最专业”“顶级”之类的字眼", "避免把品牌描述成行业第一"],
    ),
    "efficacy_guarantee": (
        ["向顾客承诺做完就能看到效果", "跟客户说水光针做一次就见效", "强调祛斑后可以永久不复发", "包你满意，不满意全额退款"],
        ["不得向客户保证疗效", "切勿宣称效果可以永久维持"],
    ),
    "safety_guarantee": (
        ["强调整个过程无痛，躺着就做完了", "跟顾客说热玛吉零风险", "告诉客户这个项目没有任何副作用"],
        ["不要对客户说项目无痛或零风险", "禁止使用绝对安全一类的说法"],
    ),
    "cure_rate": (
        ["介绍时提到我们祛痘的治愈率达到95%", "可以说这款仪器的有效率很高"],
        ["不得宣传治愈率或有效率等数字"],
    ),
    "before_after": (
        ["主动给客户发送术前术后对比图", "可以分享其他顾客使用前后的照片"],
        ["避免发送任何前后对比照片"],
    ),
    "endorsement": (
        ["告诉客户这是某位明星同款面霜", "说这款是皮肤科专家推荐的", "提到我们请了知名演员代言"],
        ["不要以明星推荐或医生推荐作为卖点"],
    ),
    "appearance_anxiety": (
        ["提醒客户再不做抗衰就会显老", "跟她说鼻子长得丑会影响找对象", "告诉客户不整容就找不到好工作"],
        ["禁止用“不整容就会变丑”这类话吓唬客户"],
    ),
    "medical_claims_cosmetics": (
        ["把这款精华定位为药妆来介绍", "称我们的面霜属于医学级护肤"],
        ["切勿把普通护肤品说成药妆"],
    ),
    "loan_inducement": (
        ["告诉客户可以办医美贷", "主推分期免息，让客户先做后付", "强调零首付就能马上做"],
        ["不得向客户推荐医美贷或零首付方案"],
    ),
    "comparison": (
        ["跟客户说我们的价格比别家便宜一半", "强调我们的医生比同行更专业", "提醒客户外面的诊所都不正规"],
        ["避免说我们比其他机构更好"],
    ),
}
FLAGGED = [(cat, text) for cat, (bad, _) in CASES.items() for text in bad]
NEGATED = [(cat, text) for cat, (_, ok) in CASES.items() for text in ok]


@pytest.mark.parametrize(("category", "text"), FLAGGED)
def test_instruction_breaking_advertising_rules_is_flagged(category, text):
    issues = _issues(product_recommendation_prompt=f"{text}。")
    hits = [i for i in issues if i.code == "ADVERTISING_RULE"]
    assert hits and all(i.field == "product_recommendation_prompt" and i.severity == "error" for i in hits)
    assert any(category in i.message for i in hits)


@pytest.mark.parametrize(("category", "text"), NEGATED)
def test_instruction_forbidding_the_claim_is_not_flagged(category, text):
    assert _issues(objection_handling_prompt=text, brand_voice=f"专业克制。{text}") == []


@pytest.mark.parametrize("text", [
    "第一次到院的客户先安排皮肤检测",
    "确保客户了解术后护理要点，把风险降到最低",
    "说明项目包括术后效果的正常波动",
    "如实告知可能出现的泛红和轻微刺痛",
])
def test_ordinary_instructions_are_not_flagged(text):
    assert _issues(personality_prompt=text) == []


def test_negation_does_not_cross_clauses():
    issues = _issues(closing_prompt="不要夸大，但要告诉客户保证见效")
    assert _codes(issues) == {("closing_prompt", "ADVERTISING_RULE")}


def test_lists_are_not_screened_for_advertising_terms():
    assert _issues(safety_guidelines=["不说最好、第一"], forbidden_topics=["医美贷", "术前术后对比图"]) == []


def test_advertising_rules_come_from_the_compliance_packs_of_the_config_dir(tmp_path):
    packs = tmp_path / "compliance"
    packs.mkdir()
    (packs / "house.yaml").write_text(
        "categories:\n  house_style: {description: 品牌自定义禁用词}\n"
        "rules:\n  - {id: house.slang, category: house_style, severity: medium, patterns: [绝绝子],"
        " message: 品牌禁用网络流行语, suggestion: 换成正式表达}\n", encoding="utf-8")
    instruction = {**BASE, "brand_voice": "多说绝绝子，强调全国最好"}
    issues = validate_prompt_config(instruction, config_dir=tmp_path)
    assert [i.message.split(":")[0] for i in issues if i.code == "ADVERTISING_RULE"] == ["house_style"]
    assert {i.message.split(":")[0] for i in validate_prompt_config(instruction, CONFIG_DIR)} == {"absolute_terms"}


def test_every_violated_category_is_reported():
    issues = _issues(personality_prompt="告诉客户我们是全国第一，做完永久有效，而且没有任何副作用")
    messages = " ".join(i.message for i in issues)
    for category in ("absolute_terms", "efficacy_guarantee", "safety_guarantee"):
        assert category in messages


# ------------------------------------------------------------------ structure

def test_too_long_field():
    issues = _issues(closing_prompt="请耐心解答。" * 1500)
    assert _codes(issues) == {("closing_prompt", "TOO_LONG")}
    assert ("brand_voice", "TOO_LONG") in _codes(_issues(brand_voice="温" * 2001))
    assert ("safety_guidelines", "TOO_LONG") in _codes(_issues(safety_guidelines=["x"] * 51))


def test_unknown_field():
    assert _codes(_issues(temperature=0.3)) == {("temperature", "UNKNOWN_FIELD")}


def test_missing_personality_prompt():
    issues = validate_prompt_config({"greeting_prompt": "{customer_nickname}您好"}, CONFIG_DIR)
    assert _codes(issues) == {("personality_prompt", "REQUIRED")}


def test_invalid_nested_value():
    assert _codes(_issues(llm_parameters={"temperature": 3})) == {("llm_parameters.temperature", "INVALID_FIELD")}
    assert _codes(_issues(greeting_prompt=42)) == {("greeting_prompt", "INVALID_FIELD")}


def test_validate_request_takes_any_object_but_not_a_list():
    assert PromptValidateRequest(prompt_config={"bogus": 1}).prompt_config == {"bogus": 1}
    with pytest.raises(ValidationError):
        PromptValidateRequest.model_validate({"prompt_config": ["not", "an", "object"]})


def test_version_out_reads_config_attribute():
    row = SimpleNamespace(assistant_id="a1", tenant_id="t1", version=2, is_active=True, note=None,
                          created_at=datetime.now(timezone.utc), config={"personality_prompt": "p"})
    out = PromptVersionOut.model_validate(row)
    assert out.prompt_config == {"personality_prompt": "p"}
    assert out.model_dump()["prompt_config"] == {"personality_prompt": "p"}
