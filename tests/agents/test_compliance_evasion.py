"""Evasive spellings are read like the plain words, spans still point into the caller's text, rewrites edit it;
and a brand's own forbidden and allowed words apply on top of the packs."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.compliance import MAX_TEXT_CHARS, ComplianceAgent, ComplianceResult
from agents.compliance_brand import MAX_TERMS, BrandRules, BrandTerm
from agents.compliance_normalise import Normaliser
from tests.config_paths import CONFIG_DIR

AGENT = ComplianceAgent.load(CONFIG_DIR / "compliance")
NORMALISER = AGENT._book.language.normaliser


def _categories(result: ComplianceResult) -> set[str]:
    return {v.category for v in result.violations}


@pytest.mark.parametrize(("text", "channel", "category", "span"), [
    ("我们是全 国 最*好的皮肤管理中心。", "ad", "absolute_terms", "全 国 最*好的"),
    ("痘痘一次根·治，不再复发。", "ad", "efficacy_guarantee", "根·治"),
    ("玻尿酸填充零\u200b风\u200d险。", "ad", "safety_guarantee", "零\u200b风\u200d险"),
    ("水光针效果好🈚️副作用。", "ad", "safety_guarantee", "🈚️副作用"),
    ("熱瑪吉絕對安全，放心做。", "ad", "safety_guarantee", "絕對安全"),
    ("本院祛斑治癒率很高。", "ad", "cure_rate", "治癒率"),
    ("百分之九十八的顾客都说有效。", "ad", "cure_rate", None),
    ("全网ＮＯ．１的祛痘精华。", "ad", "absolute_terms", None),
    ("这款醫學護膚面霜很温和。", "ad", "medical_claims_cosmetics", "醫學護膚"),
    ("想了解的加绿 泡 泡：mei_lab", "social", "contact_diversion", None),
    ("具体价格扣扣联系：8899776655", "social", "contact_diversion", None),
    ("电话一三八一二三四五六七八，欢迎咨询。", "social", "contact_diversion", None),
    ("扫二维🐴领取优惠券。", "social", "contact_diversion", None),
])
def test_evasive_spellings_are_read_like_the_plain_words_and_spans_index_the_original(text, channel, category, span):
    result = AGENT.check_text(text, channel=channel)
    assert category in _categories(result), result
    for violation in result.violations:
        assert text[violation.span.start:violation.span.end] == violation.span.text
    if span is not None:
        assert span in {v.span.text for v in result.violations if v.category == category}


def test_a_rewrite_edits_the_original_text_and_keeps_its_spelling_elsewhere():
    result = AGENT.check_text("我們的熱瑪吉是全 國 最*好的，歡迎預約。", channel="ad")
    assert result.rewritten == "我們的熱瑪吉是优质的，歡迎預約。"
    assert AGENT.check_text(result.rewritten, channel="ad").verdict == "approved"


@pytest.mark.parametrize("text", [
    "第一 次来的话，最 近 先做个皮肤检测。",
    "我们的仪器一成不变地按标准消毒。",
    "活动价 2980 元，3 次疗程，约 90 天。",
    "不存在零 风 险的医疗项目，術前醫生會告知風險。",
    "請先到院面診，醫生會根據您的情況建議方案。",
    "微信支付、支付宝都可以。",
    "#热玛吉 #抗衰 周末有空位，点击主页预约按钮~",
    "皮肤屏障修复需要时间，一般四到六周。",
])
def test_normalising_does_not_turn_plain_copy_into_violations(text):
    assert AGENT.check_text(text, channel="social").verdict == "approved"


def test_normalised_spans_map_back_monotonically_within_the_original():
    text = "療效百分之九十八，最 好 的\u200b微❤信，一三八一二三四五六七八，九成都好"
    normalised = NORMALISER(text)
    assert normalised.text == "疗效98%,最好的微信,13812345678,90%都好"
    starts = [normalised.span(i, i + 1)[0] for i in range(len(normalised.text))]
    ends = [normalised.span(i, i + 1)[1] for i in range(len(normalised.text))]
    assert starts == sorted(starts) and ends == sorted(ends) and all(0 <= s < e <= len(text) for s, e in zip(starts, ends))
    assert text[slice(*normalised.span(0, len(normalised.text)))] == text
    at = normalised.text.index("98%")
    assert text[slice(*normalised.span(at, at + 3))] == "百分之九十八"
    assert text[slice(*normalised.span(at + 1, at + 2))] == "百分之九十八"  # part of a replacement maps to all of it


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="最好療效 *·\u200b❤🈚百分之九十八成一三二五七零微信绿泡扣，。abc1%", max_size=60))
def test_every_normalised_character_maps_to_an_ordered_span_of_the_original(text):
    normalised = NORMALISER(text)
    spans = [normalised.span(i, i + 1) for i in range(len(normalised.text))]
    assert all(0 <= start < end <= len(text) for start, end in spans)
    assert [s for s, _ in spans] == sorted(s for s, _ in spans) and [e for _, e in spans] == sorted(e for _, e in spans)


def test_the_tables_are_data():
    normaliser = Normaliser(symbols={"无": ["🈚"]}, slang={"微信": ["小绿"]})
    assert normaliser("加 小 绿🈚门槛").text == "加微信无门槛"
    assert Normaliser()("加 小 绿").text == "加小绿"


# ------------------------------------------------------------------ brand rules

BRAND = BrandRules(
    tenant_id="brand-a", version=3,
    forbidden=(BrandTerm(term="美白", replacement="提亮"), BrandTerm(term="竞品X", category="comparison", severity="medium")),
    allowed=("天下第一坊",),
)


def test_a_forbidden_word_is_flagged_in_any_spelling_and_rewritten_with_its_replacement():
    for text, span in [("这款精华美白效果好。", "美白"), ("这款精華美 白效果好。", "美 白")]:
        result = AGENT.check_text(text, channel="ad", brand=BRAND)
        assert [(v.rule_id, v.category, v.span.text) for v in result.violations] == [("brand.美白", "brand_rule", span)]
        assert result.verdict == "blocked" and "提亮" in result.rewritten and AGENT.check_text(result.rewritten, "ad", brand=BRAND).verdict == "approved"
    assert AGENT.check_text("这款精华美白效果好。", channel="ad").verdict == "approved"  # another tenant: the packs alone


def test_a_forbidden_word_keeps_its_category_and_severity_and_negation_cancels_it():
    result = AGENT.check_text("竞品X的东西别买。", channel="social", brand=BRAND)
    assert result.verdict == "flagged" and _categories(result) == {"comparison"} and result.rewritten == ""
    assert AGENT.check_text("我们不宣称美白功效。", channel="ad", brand=BRAND).verdict == "approved"


def test_an_allowed_trade_name_is_exempt_from_the_packs_but_nothing_else_is():
    assert _categories(AGENT.check_text("来天下第一坊做玻尿酸。", channel="ad")) == {"absolute_terms"}
    assert AGENT.check_text("来天下第一坊做玻尿酸。", channel="ad", brand=BRAND).verdict == "approved"
    result = AGENT.check_text("全国第一的天下第一坊。", channel="ad", brand=BRAND)
    assert [v.span.text for v in result.violations] == ["全国第一"]


def test_brand_rules_do_not_apply_to_customer_messages():
    assert AGENT.check_text("你们的美白针怎么样？", channel="chat", direction="input", brand=BRAND).verdict == "approved"


def test_the_most_brand_words_cost_one_pass_over_the_longest_text():
    """500 forbidden and 500 allowed words are two alternations, not a thousand scans: the longest text takes about as
    long as without them (a scan per word took ~0.3 s more here)."""
    pick = random.Random(7)
    alphabet = "美白祛斑第一无痛保证效果最好的水光针热玛吉，。 "
    brand = BrandRules(tenant_id="t", version=1,
                       forbidden=tuple(BrandTerm(term=f"{''.join(pick.choices(alphabet[:22], k=4))}{i}") for i in range(MAX_TERMS)),
                       allowed=tuple(f"天下第一坊{i}" for i in range(MAX_TERMS)))
    text = "".join(pick.choices(alphabet, k=MAX_TEXT_CHARS))

    def best(rules: BrandRules | None) -> float:
        timings = []  # this process's CPU, not wall time: other processes on a busy CI machine do not count
        for _ in range(5):
            started = time.process_time()
            AGENT.check_text(text, "ad", brand=rules)
            timings.append(time.process_time() - started)
        return min(timings)

    AGENT.check_text(text, "ad", brand=brand)  # compiled once per version
    assert best(brand) < best(None) * 1.5 + 0.05
