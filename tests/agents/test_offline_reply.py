"""The offline writer: the Sales agent's reply when no real model answered, built from what the agents found."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agents.compliance import ComplianceAgent
from agents.offline_reply import ComposeContext, ComposeProduct, compose_reply
from tests.config_paths import CONFIG_DIR

COMPLIANCE = ComplianceAgent.load(CONFIG_DIR / "compliance")
HYDRA = ComposeProduct(name="水光针", price=1280, reason="补水保湿，适合干燥缺水的肌肤")
PHOTO = ComposeProduct(name="光子嫩肤", price=980.5, description="改善暗沉和细纹")
ASKED = "最近皮肤很干，有什么推荐？"
CLAIMING = "哪个项目效果最好？保证有效吗？"
LLM_WORDS = ("AI", "人工智能", "语言模型", "大模型", "机器人")


def compose(context: ComposeContext) -> str:
    return compose_reply(context, COMPLIANCE.approves)


def test_the_reply_uses_what_the_agents_found() -> None:
    context = ComposeContext(
        customer_message=ASKED,
        assistant_name="小美",
        persona="医美顾问",
        customer_name="王女士",
        products=[HYDRA, PHOTO],
        memories=["上次说对酒精过敏"],
        appointment="明天下午3点",
    )
    reply = compose(context)

    assert reply.startswith("王女士您好，我是小美（医美顾问）。")
    assert "1. 水光针（参考价 ¥1,280）：补水保湿，适合干燥缺水的肌肤" in reply
    assert "2. 光子嫩肤（参考价 ¥980）：改善暗沉和细纹" in reply
    assert "上次说对酒精过敏" in reply and "已为您记下明天下午3点的到店时间" in reply
    assert reply == compose(context), "deterministic"


def test_negative_sentiment_softens_and_a_missing_time_is_asked_for() -> None:
    reply = compose(ComposeContext(sentiment="negative", ask_for_time=True, customer_message="上次做完脸红了好几天"))
    assert "抱歉" in reply and "哪天有空" in reply and "上次做完脸红了好几天" in reply


@pytest.mark.parametrize(
    "context",
    [
        ComposeContext(customer_message=CLAIMING,
                       products=[ComposeProduct(name="热玛吉", price=19800, reason="效果最好，保证根治皱纹，无副作用")]),
        ComposeContext(customer_message="哪个最好", products=[ComposeProduct(name="第一品牌玻尿酸")], memories=["想要永久效果"]),
        ComposeContext(customer_message=CLAIMING, assistant_name="全国第一顾问", persona="绝对专业", customer_name="小李",
                       appointment="保证明天", ask_for_time=True),
        ComposeContext(customer_message=CLAIMING),
    ],
)  # fmt: skip
def test_no_reply_makes_a_claim_the_compliance_packs_forbid_or_claims_to_be_an_llm(context: ComposeContext) -> None:
    reply = compose(context)
    assert COMPLIANCE.check_text(reply).verdict == "approved", reply
    assert not [word for word in LLM_WORDS if word in reply], reply
    assert len(reply) > 10


def test_what_the_writer_leaves_out_is_what_the_compliance_packs_forbid(tmp_path: Path) -> None:
    shutil.copytree(CONFIG_DIR / "compliance", tmp_path, dirs_exist_ok=True)
    (tmp_path / "house.yaml").write_text(
        "categories:\n  house: {description: 本店不再提供的项目}\n"
        "rules:\n  - {id: house.photo, category: house, severity: high, patterns: [光子嫩肤], message: m, suggestion: s}\n",
        encoding="utf-8",
    )
    context = ComposeContext(customer_message=ASKED, products=[HYDRA, PHOTO])
    assert "光子嫩肤" in compose(context)
    reply = compose_reply(context, ComplianceAgent.load(tmp_path).approves)
    assert "1. 水光针" in reply and "光子嫩肤" not in reply
