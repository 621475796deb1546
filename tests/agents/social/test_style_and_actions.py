"""Platform style (a test per platform) and the action policy: readable, tunable, deterministic, linear-time."""

from __future__ import annotations

import time

import pytest

from agents.social.actions import ActionPolicy, PolicyOverrides, Rule, Signals, brand_terms, decide, engagement, mentioned
from agents.social.style import Styles, counts, fit
from tests.config_paths import CONFIG_DIR

STYLES = Styles.load(CONFIG_DIR / "social" / "platforms.yaml")
POLICY = ActionPolicy.load(CONFIG_DIR / "social" / "actions.yaml")
LONG_DRAFT = "姐妹这个分享太有用了✨💕🌸🥰👍🔥" + "做完记得好好补水防晒，恢复期遵医嘱护理。" * 20 + " #水光针 #补水 #护肤 #医美"


@pytest.mark.parametrize("platform", ["rednote", "douyin", "moments"])
def test_every_platform_limits_length_emoji_and_hashtags_of_each_kind(platform: str) -> None:
    style = STYLES.platforms[platform]  # type: ignore[index]
    for kind in ("comment", "reply", "chat", "moments", "beautify"):
        text = fit(LONG_DRAFT, style, kind)  # type: ignore[arg-type]
        emoji, hashtags = counts(text)
        assert 0 < len(text) <= style.limit(kind)  # type: ignore[arg-type]
        assert emoji <= style.emoji.max and hashtags <= style.hashtags_allowed(kind)  # type: ignore[arg-type]


def test_platforms_differ_where_the_platforms_do() -> None:
    rednote, douyin, moments = (STYLES.platforms[name] for name in ("rednote", "douyin", "moments"))  # type: ignore[index]
    assert douyin.limit("comment") < rednote.limit("comment")
    assert rednote.hashtags_allowed("beautify") > 0 and rednote.hashtags_allowed("comment") == 0
    assert moments.hashtags_allowed("beautify") == 0 and moments.emoji.max < rednote.emoji.max


def test_a_long_draft_is_cut_at_a_sentence_end_not_mid_word() -> None:
    text = fit("第一句话说明情况。" * 30, STYLES.platforms["douyin"], "comment")
    assert text.endswith("。") and len(text) <= 60


def test_a_short_text_within_the_rules_is_left_as_it_is() -> None:
    assert fit("谢谢分享✨", STYLES.platforms["rednote"], "comment") == "谢谢分享✨"


TERMS = brand_terms(["水光针", "热玛吉", "皮秒", "补水", "玻尿酸"])


def signals(text: str, **counts: int) -> Signals:
    found = mentioned(text, TERMS)
    return Signals(relevance=min(1.0, len(found) / POLICY.relevance.terms_for_full), engagement=engagement(POLICY, counts),
                   intent=0.0, negative=False, blocked=False, matched_terms=found)


def test_a_relevant_post_is_liked_and_commented_an_unrelated_one_left_alone() -> None:
    relevant = decide(POLICY, "comment", "rednote", signals("刚做完水光针，补水效果很明显", likes_num=30))
    unrelated = decide(POLICY, "comment", "rednote", signals("今天去爬山了，风景很好", likes_num=30))
    assert {2, 3} <= set(relevant.actions) and unrelated.actions == []
    assert all(reason for reason in relevant.reasons)


def test_a_popular_and_very_relevant_post_is_followed_shared_and_saved() -> None:
    hot = decide(POLICY, "comment", "rednote", signals("水光针、热玛吉和皮秒我都做过", likes_num=20000, forward_num=3000))
    assert hot.actions == [1, 2, 3, 4, 5, 6]


def test_the_same_input_always_gives_the_same_decision() -> None:
    read = signals("水光针和热玛吉哪个适合我", likes_num=500, replies_num=40)
    assert len({tuple(decide(POLICY, "comment", "douyin", read).actions) for _ in range(20)}) == 1


def test_a_negative_post_is_not_liked_or_shared_but_may_be_answered() -> None:
    complaint = signals("水光针打完肿了一个星期，补水效果也没有", likes_num=5000).model_copy(update={"negative": True})
    decision = decide(POLICY, "comment", "rednote", complaint)
    assert 3 in decision.actions and not {1, 2, 4, 5} & set(decision.actions)


def test_a_blocked_text_gets_no_action() -> None:
    abuse = signals("水光针骗子").model_copy(update={"blocked": True})
    assert decide(POLICY, "comment", "rednote", abuse).actions == []


def test_moments_only_like_and_comment() -> None:
    assert set(decide(POLICY, "reply", "moments", signals("水光针", likes_num=10**6).model_copy(update={"intent": 1.0})).actions) <= {2, 3}


def test_a_brand_tunes_the_policy_per_request() -> None:
    eager = POLICY.tuned(PolicyOverrides(comment=[Rule(action=3), Rule(action=2)]))
    assert decide(eager, "comment", "rednote", signals("今天去爬山了")).actions == [2, 3]
    assert POLICY.comment != eager.comment  # the default stays as configured


def test_a_longer_term_counts_once_not_with_the_terms_inside_it() -> None:
    terms = brand_terms(["玻尿酸", "玻尿酸填充", "填充"])
    assert mentioned("想了解玻尿酸填充", terms) == ["玻尿酸填充"]


def test_matching_is_linear_in_the_text_whatever_the_catalog_size() -> None:
    catalog = brand_terms(f"项目{i}号" for i in range(20_000))
    started = time.perf_counter()
    mentioned("水光针" * 1700, catalog)
    assert time.perf_counter() - started < 0.5
