"""Customer analysis of a thread: the rule-based profile, report and tags, the LLM version kept within the same
contracts, the config and its reload, and the evaluation set of labelled threads."""

from __future__ import annotations

import json
import pickle
import shutil
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.intent import CatalogService
from agents.sales import CustomerProfile
from agents.sentiment import load_lexicon
from agents.social.analysis import (
    CustomerAnalyst,
    CustomerFile,
    LabelResult,
    ProfileResult,
    ReportResult,
    fit_tags,
    offline_labels,
    render_report,
)
from agents.social.analysis_offline import Findings, analyse
from agents.social.analysis_rules import load_rules
from agents.timeparse import SHANGHAI
from llm.router import Router
from llm.settings import LLMSettings
from llm.types import LLMRequest, LLMResponse, Usage
from memory.types import TurnMessage
from tests.config_paths import CONFIG_DIR

DATA = Path(__file__).parent / "data"
RULES_PATH = CONFIG_DIR / "social" / "analysis.yaml"
RULES = load_rules(RULES_PATH)
LEXICON = load_lexicon(CONFIG_DIR / "sentiment" / "lexicon.yaml")
THURSDAY_10AM = datetime(2025, 5, 1, 10, tzinfo=SHANGHAI)
SECTIONS = ["## 需求", "## 顾虑", "## 预算", "## 异议", "## 阶段", "## 下一步"]
REQUIRED_ACCURACY = 0.9
CATALOG = [
    CatalogService(product_id="p1", name="水光针", aliases=["水光", "补水针"]),
    CatalogService(product_id="p2", name="超皮秒祛斑", aliases=["超皮秒", "皮秒"]),
    CatalogService(product_id="p3", name="热玛吉", aliases=["Thermage"]),
    CatalogService(product_id="p4", name="冰点脱毛", aliases=["脱毛"]),
]


def thread(*turns: str, thread_id: str = "t1", **fields: Any) -> CustomerFile:
    """Turns alternate customer, consultant, customer …; a turn starting with "顾问：" is the consultant's anyway."""
    messages = [
        TurnMessage(role="assistant", content=turn.removeprefix("顾问：")) if turn.startswith("顾问：") or index % 2
        else TurnMessage(role="user", content=turn)
        for index, turn in enumerate(turns)
    ]
    return CustomerFile(thread_id=thread_id, messages=messages, now=THURSDAY_10AM, catalog=CATALOG, **fields)


def customer_only(*messages: str, **fields: Any) -> CustomerFile:
    file = thread(**fields)
    return file.model_copy(update={"messages": [TurnMessage(role="user", content=text) for text in messages]})


def findings(file: CustomerFile) -> Findings:
    return analyse(file, RULES, LEXICON)


CONSULTATION = thread(
    "你好，我脸上痘印挺多的，毛孔也粗，想改善一下",
    "您好～请问您是什么肤质？之前做过医美项目吗？",
    "我是混油皮，之前做过两次光子嫩肤，对酒精和果酸过敏",
    "了解了，可以考虑超皮秒或者水光针，我先给您发一下介绍",
    "超皮秒大概多少钱？我预算三千到五千",
    "单次参考价2980元，具体以面诊为准",
    "会不会很疼啊，恢复期要多久",
    "有表麻，一般三到五天恢复",
    "那就这周六下午三点过来面诊吧",
)
BROWSING = thread(
    "你们家热玛吉多少钱",
    "热玛吉参考价一万二起，具体看部位",
    "我脸有点松弛，法令纹也深了",
    "可以到店面诊看看",
    "你们几点下班？",
)
DECLINING = thread(
    "想做个水光，周六可以过来吗",
    "可以的，周六上午十点有位置",
    "多少钱一次",
    "单次1680元",
    "太贵了，你们这服务也太差了，不做了",
)


# --- the offline analysis ----------------------------------------------------------------------------------------


class ScriptedLLM:
    """Stands in for the LLM router: ``answer(request)`` is the reply, every request is recorded."""

    def __init__(self, answer: Callable[[LLMRequest], LLMResponse]) -> None:
        self.answer = answer
        self.requests: list[LLMRequest] = []

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        return self.answer(request)


def offline_answer(request: LLMRequest) -> LLMResponse:
    """What the router answers when only the offline provider is routed (no API key)."""
    return LLMResponse(content="[offline]", model="offline-echo", provider="offline", usage=Usage(input_tokens=50, output_tokens=5),
                       cost_usd=0.0, latency_ms=1.0, data={} if request.json_schema else None, offline=True)


def model_answer(content: str = "", data: Any = None) -> Callable[[LLMRequest], LLMResponse]:
    return lambda request: LLMResponse(
        content=content or json.dumps(data, ensure_ascii=False), model="gpt-4o-mini", provider="openai",
        usage=Usage(input_tokens=900, output_tokens=150), cost_usd=0.000225, latency_ms=800.0, data=data,
    )


@pytest.fixture
def offline() -> CustomerAnalyst:
    return CustomerAnalyst(ScriptedLLM(offline_answer), CONFIG_DIR)


async def test_a_consultation_yields_skin_type_allergies_budget_treatments_concerns_and_services(offline: CustomerAnalyst) -> None:
    result = await offline.profile(CONSULTATION)
    profile = result.profile
    assert (result.thread_id, result.model, result.input_tokens, result.output_tokens, result.cost_usd) == ("t1", "offline", 0, 0, 0.0)
    assert profile.skin_type == "混油皮"
    assert profile.allergies == ["酒精", "果酸"]
    assert profile.budget is not None and (profile.budget.min_cny, profile.budget.max_cny) == (3000, 5000)
    assert profile.treatments_done == ["光子嫩肤"]
    assert profile.concerns == ["痘印", "毛孔粗大"]
    assert profile.interested_services == ["超皮秒祛斑"]  # the consultant's 水光针 is not the customer's interest
    assert (profile.journey_stage, profile.intent_strength) == ("decision", "strong")
    assert profile.objections == ["怕疼", "恢复期顾虑"]


@pytest.mark.parametrize(
    ("message", "low", "high"),
    [
        ("预算5000左右", 4000, 6000),
        ("预算三千到五千", 3000, 5000),
        ("预算1w以内", None, 10000),
        ("预算两三千吧", 2000, 3000),
        ("价位在八千以上都可以", 8000, None),
        ("预算５０００以内", None, 5000),  # full-width digits
        ("最多花一万五", None, 15000),
        ("预算2000左右能做什么项目？", 1600, 2400),  # said in a question is still said
        ("预算不限，效果好就行", None, None),
    ],
)
def test_budget_wordings_become_a_range_in_yuan(message: str, low: float | None, high: float | None) -> None:
    budget = findings(customer_only(message)).insight.budget
    assert budget is not None and (budget.min_cny, budget.max_cny) == (low, high)


def test_the_latest_budget_wins_and_memories_fill_in_what_the_messages_lack() -> None:
    file = customer_only("预算五千左右", "想了想，预算控制在八千以内吧", memories=["预算：3000元以内", "肤质：干皮", "做过：水光针"])
    insight = findings(file).insight
    assert insight.budget is not None and (insight.budget.max_cny, insight.budget.text) == (8000, "8000元以内")
    assert (insight.skin_type, insight.treatments_done) == ("干皮", ["水光针"])
    worded = findings(customer_only("你好", memories=["预算：想控制在五千以内", "过敏：之前打肉毒素过敏过"])).insight
    assert worded.budget is not None and worded.budget.max_cny == 5000
    assert worded.allergies == ["肉毒素"]


@pytest.mark.parametrize(
    ("message", "absent"),
    [
        ("我不怕疼，主要是想效果好", "怕疼"),
        ("价格不贵，我主要想了解效果", "价格顾虑"),
        ("我没有痘痘，就是毛孔大", "痘痘"),
        ("我闺蜜对酒精过敏，我自己不过敏", "酒精"),
        ("我没做过医美", "做过"),
    ],
)
def test_negated_and_third_party_statements_are_not_the_customers(message: str, absent: str) -> None:
    insight = findings(customer_only(message)).insight
    said = [*insight.objections, *insight.concerns, *insight.allergies, *(f"做过{t}" for t in insight.treatments_done)]
    assert not any(absent in item for item in said), said


def test_a_question_about_pain_is_a_worry_even_when_asked_with_a_negation_word() -> None:
    assert "怕疼" in findings(customer_only("会不会很疼啊")).insight.objections


def test_interested_services_come_from_the_catalog_aliases_and_the_customer_record() -> None:
    file = customer_only("Thermage和皮秒哪个适合我", customer=CustomerProfile(services=["水光针"]))
    assert findings(file).insight.interested_services == ["水光针", "热玛吉", "超皮秒祛斑"]


@pytest.mark.parametrize(
    ("file", "stage"),
    [
        (customer_only("你好"), "first_contact"),
        (customer_only("你好", "祛斑多少钱"), "consideration"),
        (customer_only("你好", "明天下午两点过去"), "decision"),
        (customer_only("你好", customer=CustomerProfile(is_converted=True)), "after_sales"),
        (CustomerFile(thread_id="t"), "first_contact"),
    ],
)
def test_journey_stage(file: CustomerFile, stage: str) -> None:
    assert findings(file).insight.journey_stage == stage


def test_a_decline_after_a_booking_question_cancels_the_intent_and_a_booking_after_a_decline_keeps_it() -> None:
    declined = findings(DECLINING)
    assert (declined.declined, declined.insight.intent_strength, declined.insight.journey_stage) == (True, "none", "consideration")
    rebooked = findings(customer_only("算了不约了", "想了想还是明天下午三点过去吧"))
    assert (rebooked.declined, rebooked.insight.intent_strength) == (False, "strong")
    assert not findings(customer_only("不用了，我明天下午直接过去")).declined


# --- the lead score ----------------------------------------------------------------------------------------------


def test_a_booking_scores_above_browsing_which_scores_above_a_complaining_decline() -> None:
    booking, browsing, declining = (findings(file).insight.lead for file in (CONSULTATION, BROWSING, DECLINING))
    assert booking.score > browsing.score > declining.score
    assert {"明确预约意向 +25", "明确预约时间 +20", "说明了预算 +8"} <= set(booking.reasons)
    assert {"明确拒绝 -30", "情绪负面 -15", "异议：价格顾虑 -5"} <= set(declining.reasons)
    assert "有感兴趣的项目 +8" in browsing.reasons


def test_every_reason_states_its_points_and_they_add_up_to_the_score_until_it_is_clamped() -> None:
    for file in (CONSULTATION, BROWSING):
        lead = findings(file).insight.lead
        assert sum(int(reason.rsplit(" ", 1)[1]) for reason in lead.reasons) == lead.score
    assert findings(DECLINING).insight.lead.reasons == ["基础分 +30", "有感兴趣的项目 +8", "情绪负面 -15", "异议：价格顾虑 -5", "明确拒绝 -30"]
    assert findings(DECLINING).insight.lead.score == 0  # -12, clamped


# --- the report and the tags -------------------------------------------------------------------------------------


async def test_the_report_has_every_section_in_order_with_the_facts_and_a_next_step(offline: CustomerAnalyst) -> None:
    result = await offline.report(CONSULTATION)
    text = result.report
    assert [text.index(section) for section in SECTIONS] == sorted(text.index(section) for section in SECTIONS)
    assert "痘印" in text and "酒精" in text and "3000-5000元" in text and "周六下午三点" in text
    assert "确认到店时间5月3日（这周六下午三点）" in text
    assert (result.model, result.output_tokens) == ("offline", 0)


def test_empty_sections_say_so_instead_of_being_dropped() -> None:
    text = render_report(findings(customer_only("你好")), RULES.config)
    assert all(section in text for section in SECTIONS)
    assert "## 预算\n暂无" in text and "## 异议\n暂无" in text


async def test_a_thread_without_messages_is_analysed_not_refused(offline: CustomerAnalyst) -> None:
    empty = CustomerFile(thread_id="new", memories=["过敏：对青霉素过敏"])
    report = (await offline.report(empty)).report
    assert "还没有对话记录" in report and all(section in report for section in SECTIONS) and "青霉素" in report
    profile = (await offline.profile(empty)).profile
    assert (profile.journey_stage, profile.allergies, profile.lead.score) == ("first_contact", ["青霉素"], 30)
    assert (await offline.labels(empty)).labels == ["新咨询", "有过敏史", "无明确意向"]


async def test_labels_rank_stage_allergy_objection_budget_and_concerns(offline: CustomerAnalyst) -> None:
    result = await offline.labels(CONSULTATION)
    assert result.labels == ["意向强", "有过敏史", "怕疼", "预算3千-5千", "痘印"]
    assert (await offline.labels(DECLINING)).labels[0] == "已婉拒"


# --- contracts on generated threads ------------------------------------------------------------------------------

WORDS = [
    "我", "你好", "想做", "水光针", "超皮秒", "痘印", "色斑", "毛孔", "法令纹", "过敏", "对酒精", "预算", "五千", "3000", "左右",
    "以内", "到", "太贵了", "怕疼", "考虑一下", "不", "没有", "明天下午三点", "过来", "吗", "？", "，", "。", "！", "算了",
    "不约了", "油皮", "敏感肌", "做过", "热玛吉", "效果", "好的", "谢谢", "差评", "退款", "1w", "两三千", "\n", " ", "😊",
]
chinese_text = st.one_of(
    st.lists(st.sampled_from(WORDS), max_size=30).map("".join),
    st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=40),
    st.text(max_size=40),
)
turns = st.lists(st.tuples(st.sampled_from(["user", "assistant"]), chinese_text), max_size=12)
FUZZ = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}


def _file(messages: list[tuple[str, str]], memories: list[str], converted: bool) -> CustomerFile:
    return CustomerFile(
        thread_id="fuzz", messages=[TurnMessage(role=role, content=text) for role, text in messages], memories=memories,  # type: ignore[arg-type]
        catalog=CATALOG, now=THURSDAY_10AM, customer=CustomerProfile(is_converted=converted),
    )


def assert_tags(tags: list[str]) -> None:
    assert 3 <= len(tags) <= 5 and len(set(tags)) == len(tags) and all(0 < len(tag) <= 8 and tag == tag.strip() for tag in tags)


@settings(max_examples=150, **FUZZ)
@given(messages=turns, memories=st.lists(chinese_text, max_size=3), converted=st.booleans())
def test_any_thread_gives_a_profile_report_and_tags_within_their_contracts(
    messages: list[tuple[str, str]], memories: list[str], converted: bool
) -> None:
    found = findings(_file(messages, memories, converted))
    assert 0 <= found.insight.lead.score <= 100
    assert_tags(offline_labels(found, RULES.config))
    text = render_report(found, RULES.config)
    assert all(section in text for section in SECTIONS)
    budget = found.insight.budget
    assert budget is None or budget.min_cny is None or budget.max_cny is None or budget.min_cny <= budget.max_cny


@settings(max_examples=150, **FUZZ)
@given(tags=st.lists(st.one_of(chinese_text, st.sampled_from(["意向强", "意向强", " 痘印 ", ""])), max_size=12))
def test_whatever_tags_a_model_answers_three_to_five_distinct_short_ones_are_kept(tags: list[str]) -> None:
    fillers = offline_labels(findings(CONSULTATION), RULES.config)
    kept = fit_tags(tags, fillers)
    assert_tags(kept)
    assert all(tag.strip() in kept for tag in tags[:1] if 0 < len(tag.strip()) <= 8)  # the model's first usable tag stays


@pytest.mark.parametrize(
    "unit",
    [
        "我是油皮对酒精过敏，预算五千左右，想做水光针但是太贵了怕疼，考虑一下，明天下午三点过来？痘印毛孔色斑😊",
        "1", "预算1", "不", "，", "对", "ﷺ",  # runs a rule could rescan; a character NFKC makes 18 of
    ],
)
def test_a_long_thread_of_20000_character_messages_is_analysed_in_under_a_second(unit: str) -> None:
    long = (unit * (20_000 // len(unit) + 1))[:20_000]
    file = _file([("user" if index % 2 == 0 else "assistant", long) for index in range(500)], [long] * 200, False)
    findings(customer_only("预热"))  # the catalog's matcher is built once
    started = time.perf_counter()
    found = findings(file)
    offline_labels(found, RULES.config), render_report(found, RULES.config)
    assert time.perf_counter() - started < 1.0


def test_only_the_start_of_a_long_message_is_read() -> None:
    limit = RULES.config.limits.message_chars
    assert findings(customer_only("你好" * limit + "预算五千")).insight.budget is None
    assert findings(customer_only("预算五千" + "你好" * limit)).insight.budget is not None


def test_results_pickle_because_they_cross_ray_handles() -> None:
    result = ProfileResult(thread_id="t", model="offline", profile=findings(CONSULTATION).insight)
    assert pickle.loads(pickle.dumps(result)) == result


# --- the LLM version ---------------------------------------------------------------------------------------------

MODEL_PROFILE = {
    "skin_type": "混油皮", "concerns": ["痘印", "毛孔粗大", "痘印"], "allergies": ["酒精"],
    "budget": {"min_cny": 5000, "max_cny": 3000, "text": "三千到五千"}, "treatments_done": ["光子嫩肤"],
    "interested_services": ["超皮秒"], "journey_stage": "ready_to_buy", "intent_strength": "strong", "sentiment": "positive",
    "objections": ["怕疼"], "lead": {"score": 250, "reasons": ["明确预约时间 +30"]},
}


async def test_a_models_profile_is_used_within_the_contracts() -> None:
    llm = ScriptedLLM(model_answer(data=MODEL_PROFILE))
    result = await CustomerAnalyst(llm, CONFIG_DIR).profile(CONSULTATION.model_copy(update={"tenant_id": "tenant-a", "model": "smart"}))
    profile = result.profile
    assert (result.model, result.input_tokens, result.output_tokens, result.cost_usd) == ("gpt-4o-mini", 900, 150, 0.000225)
    assert (profile.lead.score, profile.lead.reasons) == (100, ["明确预约时间 +30"])  # 250 clamped
    assert profile.journey_stage == "decision"  # not an allowed stage: the rules' one
    assert (profile.intent_strength, profile.sentiment) == ("strong", "positive")
    assert profile.concerns == ["痘印", "毛孔粗大"]
    assert profile.budget is not None and (profile.budget.min_cny, profile.budget.max_cny) == (3000, 5000)
    [request] = llm.requests
    assert (request.tenant_id, request.model) == ("tenant-a", "smart")
    assert request.json_schema is not None and "lead" in request.json_schema["required"]
    prompt = request.messages[-1].content
    assert "客户：那就这周六下午三点过来面诊吧" in prompt and '"journey_stage": "decision"' in prompt  # transcript and findings


@pytest.mark.parametrize("data", [None, "not an object", {"lead": {"score": "high"}, "journey_stage": 3, "concerns": "痘印"}])
async def test_what_a_model_gets_wrong_is_taken_from_the_rules(data: Any) -> None:
    result = await CustomerAnalyst(ScriptedLLM(model_answer(data=data)), CONFIG_DIR).profile(CONSULTATION)
    assert result.profile.lead == findings(CONSULTATION).insight.lead
    assert (result.profile.journey_stage, result.profile.concerns) == ("decision", ["痘印", "毛孔粗大"])


async def test_a_models_tags_are_cut_to_five_distinct_short_ones_or_filled_from_the_rules() -> None:
    eight = {"labels": ["高意向", "高意向", "混油皮", "对酒精过敏的敏感客户", "痘印", "毛孔", "价格敏感", "怕疼", "周六到店"]}
    result = await CustomerAnalyst(ScriptedLLM(model_answer(data=eight)), CONFIG_DIR).labels(CONSULTATION)
    assert result.labels == ["高意向", "混油皮", "痘印", "毛孔", "价格敏感"]
    one = await CustomerAnalyst(ScriptedLLM(model_answer(data={"labels": ["老客户"]})), CONFIG_DIR).labels(CONSULTATION)
    assert one.labels == ["老客户", "意向强", "有过敏史"]
    assert isinstance(one, LabelResult) and one.model == "gpt-4o-mini"


async def test_a_models_report_is_used_and_an_empty_one_falls_back_to_the_rules_report() -> None:
    written = "## 需求\n- 改善痘印\n\n## 下一步\n- 确认周六到店"
    llm = ScriptedLLM(model_answer(content=written))
    result = await CustomerAnalyst(llm, CONFIG_DIR).report(CONSULTATION)
    assert (result.report, result.model) == (written, "gpt-4o-mini")
    assert llm.requests[0].json_schema is None and "## 下一步" in (llm.requests[0].system or "")
    empty = await CustomerAnalyst(ScriptedLLM(model_answer(content=" \n")), CONFIG_DIR).report(CONSULTATION)
    assert isinstance(empty, ReportResult)
    assert empty.report == render_report(findings(CONSULTATION), RULES.config) and empty.output_tokens == 150


async def test_with_no_api_keys_the_shipped_router_answers_offline_and_the_rules_answer() -> None:
    router = Router.from_settings(LLMSettings(models_config=CONFIG_DIR / "models.yaml"), environ={})
    try:
        analyst = CustomerAnalyst(router, CONFIG_DIR)
        profile, report, labels = await analyst.profile(CONSULTATION), await analyst.report(CONSULTATION), await analyst.labels(CONSULTATION)
    finally:
        await router.close()
    assert profile.profile == findings(CONSULTATION).insight and profile.model == "offline"
    assert report.report == render_report(findings(CONSULTATION), RULES.config)
    assert labels.labels == offline_labels(findings(CONSULTATION), RULES.config)


# --- the config --------------------------------------------------------------------------------------------------


def copied_config(tmp_path: Path) -> Path:
    shutil.copytree(CONFIG_DIR / "social", tmp_path / "social")
    shutil.copytree(CONFIG_DIR / "sentiment", tmp_path / "sentiment")
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


async def test_reload_takes_a_valid_edit_and_refuses_a_broken_file_keeping_the_running_config(tmp_path: Path) -> None:
    config_dir = copied_config(tmp_path)
    path = config_dir / "social" / "analysis.yaml"
    analyst = CustomerAnalyst(ScriptedLLM(offline_answer), config_dir)
    edit(path, "declined: 已婉拒", "declined: 已拒绝")
    analyst.reload()
    assert (await analyst.labels(DECLINING)).labels[0] == "已拒绝"
    path.write_text("limits: [unclosed", encoding="utf-8")
    with pytest.raises(ValueError, match="invalid customer analysis config"):
        analyst.reload()
    assert (await analyst.labels(DECLINING)).labels[0] == "已拒绝"


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('declined: ["不(?:约', 'declined: ["(?:不)+(?:约', "unbounded repeat"),  # a quadratic regex on long messages
        ("first_contact: 新咨询, ", "", "lacks first_contact"),  # a stage without its tag
        ("neutral: 情绪平稳", "neutral: 待跟进", "must all differ"),  # the fillers could not make three
        ("allergy: 有过敏史", "allergy: 有过敏史的老客户呀", "at most 8 characters"),
        ("价格顾虑: 针对价格顾虑", "价格: 针对价格顾虑", "every objection needs one next step"),
        ("    - {below: null, label: 预算5万以上}\n", "", "budget bands must rise"),
    ],
)
def test_config_mistakes_are_refused_at_load(tmp_path: Path, old: str, new: str, problem: str) -> None:
    path = copied_config(tmp_path) / "social" / "analysis.yaml"
    edit(path, old, new)
    with pytest.raises(ValueError, match=problem):
        load_rules(path)


# --- the evaluation set ------------------------------------------------------------------------------------------


def load_threads() -> list[dict[str, Any]]:
    with open(DATA / "customer_analysis.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def observed(case: dict[str, Any]) -> dict[str, Any]:
    file = CustomerFile(
        thread_id=case["id"], messages=[TurnMessage(role=role, content=text) for role, text in case["messages"]],
        memories=case["memories"], customer=CustomerProfile(is_converted=case["converted"]), now=THURSDAY_10AM,
    )
    insight = findings(file).insight
    return {
        "allergies": insight.allergies, "skin_type": insight.skin_type, "stage": insight.journey_stage,
        "intent": insight.intent_strength, "budget": [insight.budget.min_cny, insight.budget.max_cny] if insight.budget else None,
    }


def test_the_evaluation_set_is_read_with_at_least_90_percent_field_accuracy() -> None:
    cases = load_threads()
    assert len(cases) >= 15 and len({case["id"] for case in cases}) == len(cases)
    wrong = [
        f"{case['id']}.{name}: {observed(case)[name]} (want {want})"
        for case in cases for name, want in case["expect"].items() if observed(case)[name] != want
    ]
    fields = sum(len(case["expect"]) for case in cases)
    assert 1 - len(wrong) / fields >= REQUIRED_ACCURACY, "\n".join(wrong)


def test_the_evaluation_set_covers_every_stage_and_intent() -> None:
    cases = load_threads()
    assert {case["expect"]["stage"] for case in cases} == {"first_contact", "consideration", "decision", "after_sales"}
    assert {case["expect"]["intent"] for case in cases} == {"none", "weak", "strong"}
