"""The hand-off rules: which customer messages a person must answer (the shipped configuration), per tenant."""

from __future__ import annotations

import time

import pytest

from agents.handoff import CATEGORIES, HandoffConfig, load_rules, parse_rules

RULES = load_rules()

HAND_OFF = {
    "human_request": ["转人工", "我要找真人客服", "你是不是机器人啊", "能让医生跟我说吗", "叫你们店长出来", "换个人工服务"],
    "urgent_complaint": ["我要投诉你们", "再不退款我就打12315", "我已经找律师了", "马上给我退钱", "信不信我让你们上热搜"],
    "clinical_diagnosis": ["帮我看看脸上这个是不是过敏", "我这是不是得了玫瑰痤疮", "能不能诊断一下", "给我看一下这算不算激素脸"],
    "clinical_complication": ["打完玻尿酸三天了还是肿得厉害", "做完热玛吉后脸发麻木", "注射后鼻子发黑怎么办", "会有后遗症吗",
                              "埋线后两边不对称", "不良反应一直还没消"],
    "clinical_medication": ["过敏了吃什么药好", "能不能涂激素药膏", "帮我开个处方", "抗生素的剂量是多少"],
}
FOR_THE_AI = ["想找医生面诊一下", "想了解一下水光针", "价格多少", "我对酒精过敏", "打完水光针多久能化妆", "你们客服几点下班",
              "热玛吉疼不疼", "我想投资你们店", "有什么优惠", "这个项目的效果能维持多久", "医生是什么资质", "想约个面诊时间"]


@pytest.mark.parametrize(("category", "text"), [(category, text) for category, texts in HAND_OFF.items() for text in texts])
def test_messages_a_person_must_answer_are_handed_off_under_their_category(category: str, text: str) -> None:
    assert RULES.reason("any-brand", text) == category


@pytest.mark.parametrize("text", FOR_THE_AI)
def test_ordinary_questions_stay_with_the_ai(text: str) -> None:
    assert RULES.reason("any-brand", text) is None


def test_full_width_and_compatibility_forms_match_too() -> None:
    assert RULES.reason("any-brand", "我要打１２３１５投诉") == "urgent_complaint"


def test_a_tenant_can_narrow_or_switch_off_automatic_hand_off() -> None:
    config = HandoffConfig(default=["human_request", "urgent_complaint"], tenants={"quiet": [], "strict": ["urgent_complaint"]},
                           categories={"human_request": ["转人工"], "urgent_complaint": ["投诉"]})
    rules = parse_rules(config)
    assert rules.reason("quiet", "转人工，我要投诉") is None
    assert rules.reason("strict", "转人工") is None and rules.reason("strict", "我要投诉") == "urgent_complaint"
    assert rules.reason("anyone", "转人工") == "human_request"
    assert rules.enabled("anyone") == {"human_request", "urgent_complaint"}


@pytest.mark.parametrize(("config", "error"), [
    ({"default": ["nosuch"], "categories": {}}, "unknown hand-off categories"),
    ({"default": [], "tenants": {"t": ["nosuch"]}, "categories": {}}, "unknown hand-off categories"),
    ({"default": [], "categories": {"human_request": ["(unclosed"]}}, "category 'human_request'"),
])
def test_a_bad_configuration_is_refused_with_what_is_wrong(config: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_rules(HandoffConfig.model_validate(config), "handoff.yaml")


def test_every_category_is_shipped_and_matching_is_linear_in_the_text() -> None:
    assert set(RULES.patterns) == set(CATEGORIES) - {"self_harm"}  # self_harm comes from input compliance
    for unit in ("打完", "药", "是不是", "退", "a"):
        started = time.perf_counter()
        RULES.reason("any-brand", unit * (20_000 // len(unit)))
        assert time.perf_counter() - started < 0.5
