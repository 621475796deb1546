"""The sentiment agent: offline Chinese analysis (labels, urgency, cues) and LLM mode with its fallbacks."""

from __future__ import annotations

import json
import pickle
import time
from collections import Counter
from functools import partial
from pathlib import Path

import pytest
from pydantic import ValidationError

from agents.sentiment import SentimentAgent, SentimentInput, SentimentResult, analyse_offline, load_lexicon
from llm.errors import AllRoutesFailed
from llm.router import Router
from llm.settings import LLMSettings
from llm.types import LLMRequest, LLMResponse, Usage
from tests.config_paths import CONFIG_DIR

DATA = Path(__file__).parent / "data"
LEXICON_PATH = CONFIG_DIR / "sentiment" / "lexicon.yaml"
analyse = partial(analyse_offline, load_lexicon(LEXICON_PATH))
REQUIRED_ACCURACY = 0.95


def load_cases(name: str) -> list[dict[str, str]]:
    with open(DATA / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def misses(cases: list[dict[str, str]]) -> list[str]:
    wrong = []
    for case in cases:
        result = analyse(case["text"])
        if result.label != case["label"]:
            wrong.append(f"{case['text']} -> {result.label} (want {case['label']}, cues {result.cues})")
    return wrong


# --- accuracy ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sentiment_dev.jsonl", "sentiment_extra.jsonl", "sentiment_holdout.jsonl"])
def test_label_accuracy_on_the_labelled_sets(name: str) -> None:
    cases = load_cases(name)
    wrong = misses(cases)
    assert 1 - len(wrong) / len(cases) >= REQUIRED_ACCURACY, "\n".join(wrong)


@pytest.mark.parametrize(("name", "size"), [("sentiment_extra.jsonl", 40), ("sentiment_holdout.jsonl", 300)])
def test_our_own_sets_are_large_and_balanced(name: str, size: int) -> None:
    labels = Counter(case["label"] for case in load_cases(name))
    assert sum(labels.values()) >= size
    assert set(labels) == {"positive", "negative", "neutral"} and min(labels.values()) >= sum(labels.values()) // 4


def test_the_holdout_set_holds_fresh_sentences() -> None:
    known = {case["text"] for name in ("sentiment_dev.jsonl", "sentiment_extra.jsonl") for case in load_cases(name)}
    texts = [case["text"] for case in load_cases("sentiment_holdout.jsonl")]
    assert len(set(texts)) == len(texts) and not known & set(texts)


# --- how the offline analysis reads Chinese ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("不满意", "negative"),
        ("一点都不疼，很快就做完了", "positive"),
        ("恢复得不错，红肿都没有", "positive"),
        ("没有想象中那么痛", "positive"),
        ("不是不专业，就是有点贵", "neutral"),
        ("效果挺好的，但是价格太贵了", "negative"),
        ("虽然价格有点高，但是效果真的很好", "positive"),
        ("说好的一周消肿，现在都两周了还是肿的", "negative"),
        ("请问打完水光针会不会过敏？", "neutral"),
        ("如果效果不好可以退款吗？", "neutral"),
        ("你们到底怎么回事？", "negative"),
        ("怎么一个月了还没有效果", "negative"),
        ("这也叫专业吗？", "negative"),
        ("我有点怕疼", "negative"),
        ("太贵了，我再考虑考虑吧", "negative"),
        ("有点贵，我再考虑考虑", "neutral"),
        ("好的，我明天下午过去", "neutral"),
        ("哈哈好开心～😊", "positive"),
        ("这个面霜Q弹水润，YYDS", "positive"),
        ("😭😭😭", "negative"),
    ],
)
def test_negation_degree_contrast_questions_worry_and_hedging(text: str, label: str) -> None:
    assert analyse(text).label == label


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("脸嫩得像剥了壳的鸡蛋", "positive"),  # no lexicon word: the character 嫩 decides
        ("被临时改了三次时间", "negative"),  # the passive tells what was done to the customer
        ("一点都没做错", "positive"),  # a backoff character is negated like a word
        ("做完脸会嫩一点吗？", "neutral"),  # a question without word cues stays neutral
        ("恢复得很顺利，疤痕几乎看不见", "positive"),  # a symptom said to be gone is good news
        ("之前的淤青，现在基本看不到了", "positive"),  # … also from the next clause
        ("我脸上有些红血丝，该做什么项目", "neutral"),  # a condition to treat, not a complaint
        ("做完脸上有些红血丝", "negative"),  # the same symptom after a treatment is one
        ("我对酒精过敏", "neutral"),  # medical history
        ("刚开始还怕疼，结果一下就做完了", "positive"),  # a worry the outcome answered is relief
        ("之前纠结了很久，现在觉得一点都没做错", "positive"),  # past hesitation does not hedge
        ("术后第二天有点肿，是正常的吗？", "neutral"),  # a recovery question
        ("术后一周了还是肿的，正常吗？", "negative"),  # … unless the problem persists
        ("这叫服务？", "negative"),  # sarcasm with nothing to invert
        ("做个美甲都比你们用心", "negative"),  # anything is better than you
        ("谢谢你们让我花了冤枉钱", "negative"),  # sarcastic thanks
        ("谢谢你们让我重新找回自信", "positive"),
        ("比我在别家做的强太多了", "positive"),
        ("不像别家那样一直推销", "positive"),  # a negation that spans words
        ("说好的终身维护，现在说要收费", "negative"),  # a broken promise
        ("明明约的是院长，到了却是个新手", "negative"),
        ("售后我打了五次了，还是没人管", "negative"),
        ("姐妹们，这家真的可以", "positive"),
        ("真的可以预约吗？", "neutral"),
    ],
)
def test_unseen_wordings_backoff_resolution_consultation_relief_inquiry_and_irony(text: str, label: str) -> None:
    assert analyse(text).label == label


def test_backoff_characters_only_speak_when_the_words_leave_a_message_neutral() -> None:
    assert analyse("脸嫩得像剥了壳的鸡蛋").cues == ["嫩"]
    assert "嫩" not in analyse("脸嫩得像剥了壳的鸡蛋，但是效果太差了").cues


def test_a_resolved_symptom_is_not_urgent() -> None:
    assert analyse("恢复得很顺利，疤痕几乎看不见").urgency == "low"
    assert analyse("做完脸上全是疤痕").urgency == "high"


def test_degree_words_scale_and_negation_with_a_degree_word_softens() -> None:
    assert analyse("非常失望").score < analyse("失望").score < analyse("有点失望").score < 0
    assert analyse("很不满意").score < analyse("不太满意").score < 0


def test_the_score_agrees_with_the_label_and_stays_in_range() -> None:
    for case in load_cases("sentiment_extra.jsonl"):
        result = analyse(case["text"])
        assert -1 <= result.score <= 1
        assert {"positive": result.score > 0, "negative": result.score < 0, "neutral": True}[result.label]


def test_cues_name_the_phrases_that_decided_it() -> None:
    assert "没有想象中疼" in analyse("恢复得挺快的，没有想象中疼。").cues
    assert "被骗" in analyse("价格说好的和实际收的不一样，感觉被骗了。").cues
    assert "再考虑考虑" in analyse("我再考虑考虑，回头联系你。").cues
    assert analyse("请问周六下午可以预约吗？").cues == []


# --- urgency -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "urgency"),
    [
        ("打完玻尿酸下巴一直在流脓，还有点发烧", "high"),
        ("做完脸上过敏了，又红又痒", "high"),
        ("再不处理我就去投诉，还要曝光你们", "high"),
        ("我要退款", "high"),
        ("气死我了，你们就是骗子", "high"),
        ("我好担心做完会留疤，晚上都睡不着", "high"),
        ("等了一个小时还没轮到我，太差劲了", "medium"),
        ("价格有点贵", "medium"),
        ("请问做完会肿吗？", "low"),
        ("医生很耐心，谢谢", "low"),
    ],
)
def test_urgency_is_high_for_health_refunds_complaints_and_anger(text: str, urgency: str) -> None:
    assert analyse(text).urgency == urgency


def test_repeated_complaints_in_the_history_raise_urgency_but_not_the_label() -> None:
    complaints = ["等了一个小时还没人理我", "你们客服一直不回消息，太敷衍了"]
    assert analyse("价格也太贵了").urgency == "medium"
    assert analyse("价格也太贵了", complaints).urgency == "high"
    assert analyse("请问几点下班？", complaints).urgency == "medium"
    pleased = analyse("问题解决了，谢谢你们，很满意", complaints)
    assert (pleased.label, pleased.urgency) == ("positive", "low")
    assert analyse("价格也太贵了", complaints[:1]).urgency == "medium"  # one complaint is not a pattern


# --- the models and the lexicon ----------------------------------------------------------------------------------


def test_results_pickle_because_they_cross_ray_handles() -> None:
    result = analyse("做完很满意")
    assert pickle.loads(pickle.dumps(result)) == result


@pytest.mark.parametrize("text", ["", "好" * 5001])
def test_input_text_must_be_1_to_5000_characters(text: str) -> None:
    with pytest.raises(ValidationError):
        SentimentInput(text=text)


def test_offline_analysis_is_fast_even_on_the_longest_input() -> None:
    texts = [case["text"] for name in ("sentiment_extra.jsonl", "sentiment_holdout.jsonl") for case in load_cases(name)]
    analyse(texts[0])  # warm-up
    per_message = []
    for _ in range(3):  # the best of three, in CPU time: a busy machine should not fail it
        started = time.process_time()
        for text in texts:
            analyse(text)
        per_message.append((time.process_time() - started) / len(texts))
    assert min(per_message) < 0.0003
    started = time.perf_counter()
    assert analyse(("效果一般，" + "不是很满意但是也还行" * 10 + "。") * 40).label in ("negative", "neutral", "positive")
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    ("original", "edited", "problem"),
    [
        ("ignore: [", "ignore: [满意, ", "'满意' is listed twice"),  # a sentiment word also ignored
        ("  - weight: -0.2  # lukewarm\n", "  - weight: -0.2  # lukewarm\n    words: [平平]\n", "words given twice"),
    ],
)
def test_lexicon_mistakes_are_refused_not_silently_resolved(tmp_path: Path, original: str, edited: str, problem: str) -> None:
    shipped = LEXICON_PATH.read_text(encoding="utf-8")
    assert original in shipped
    path = tmp_path / "lexicon.yaml"
    path.write_text(shipped.replace(original, edited, 1), encoding="utf-8")
    with pytest.raises(ValueError, match=problem):
        load_lexicon(path)


# --- LLM mode ----------------------------------------------------------------------------------------------------


class ScriptedLLM:
    """Stands in for the LLM router: answers every request with ``reply`` (or raises it) and records the requests."""

    def __init__(self, reply: LLMResponse | Exception) -> None:
        self.reply = reply
        self.requests: list[LLMRequest] = []

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def model_answer(data: object, offline: bool = False) -> LLMResponse:
    return LLMResponse(
        content=json.dumps(data, ensure_ascii=False), model="gpt-4o-mini", provider="openai",
        usage=Usage(input_tokens=120, output_tokens=30), cost_usd=0.000036, latency_ms=420.0, data=data, offline=offline,
    )


VERDICT = {"label": "negative", "score": -0.8, "urgency": "high", "cues": ["肿了一个星期"]}


async def test_llm_mode_asks_the_structured_alias_and_records_usage() -> None:
    llm = ScriptedLLM(model_answer(VERDICT))
    agent = SentimentAgent(llm, "llm", CONFIG_DIR)
    result = await agent.analyse(SentimentInput(text="打完肿了一个星期", history=["上次就很疼", "客服也不回"]))
    assert result == SentimentResult(
        label="negative", score=-0.8, urgency="high", cues=["肿了一个星期"], mode="llm",
        input_tokens=120, output_tokens=30, cost_usd=0.000036, model="gpt-4o-mini",
    )
    [request] = llm.requests
    assert (request.model, request.tenant_id) == ("structured", None)
    assert set(request.json_schema["required"]) == {"label", "score", "urgency", "cues"}
    assert request.system and "情绪" in request.system
    content = request.messages[-1].content
    assert content.index("上次就很疼") < content.index("客服也不回") < content.index("打完肿了一个星期")


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (AllRoutesFailed("every model failed"), "ALL_ROUTES_FAILED"),
        (model_answer({"label": "negative", "score": 0, "urgency": "low", "cues": []}, offline=True), "offline"),
        (model_answer({"label": "angry", "score": -3, "urgency": "now"}), "not a valid verdict"),
        (model_answer(None), "not a valid verdict"),
    ],
)
async def test_llm_mode_falls_back_to_the_offline_analysis(reply: LLMResponse | Exception, reason: str) -> None:
    agent = SentimentAgent(ScriptedLLM(reply), "llm", CONFIG_DIR)
    result = await agent.analyse(SentimentInput(text="上次打完玻尿酸肿了一个星期，你们怎么回事？"))
    assert (result.mode, result.label, result.urgency) == ("offline", "negative", "high")
    assert result.fallback_reason and reason in result.fallback_reason
    assert (result.input_tokens, result.cost_usd, result.model) == (0, 0.0, None)


async def test_llm_mode_without_a_client_falls_back() -> None:
    result = await SentimentAgent(None, "llm", CONFIG_DIR).analyse(SentimentInput(text="非常感谢，下次还来找你！"))
    assert (result.mode, result.label) == ("offline", "positive")
    assert result.fallback_reason == "no LLM client is configured"


async def test_offline_mode_never_calls_the_llm() -> None:
    llm = ScriptedLLM(model_answer(VERDICT))
    result = await SentimentAgent(llm, "offline", CONFIG_DIR).analyse(SentimentInput(text="你们地址在哪里？停车方便吗？"))
    assert (result.mode, result.label, result.fallback_reason, llm.requests) == ("offline", "neutral", None, [])


async def test_with_no_api_keys_the_shipped_router_only_has_the_offline_provider_so_llm_mode_falls_back() -> None:
    router = Router.from_settings(LLMSettings(models_config=CONFIG_DIR / "models.yaml"), environ={})
    try:
        result = await SentimentAgent(router, "llm", CONFIG_DIR).analyse(SentimentInput(text="效果一点都不明显，白花钱了。"))
    finally:
        await router.close()
    assert (result.mode, result.label) == ("offline", "negative")
    assert result.fallback_reason and "offline provider" in result.fallback_reason
