"""A reload asked of one replica reaches every replica (``runs.reloads``), over each relational backend: two Social
agents stand for two replicas sharing one database."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agents.social.agent import SocialAgent
from agents.social.models import Brand, ChatRequest
from runs.reloads import kept_current
from store.db import make_engine, make_sessionmaker
from store.generations import GenerationStore
from store.migrate import upgrade_to_head
from tests.agents.social.doubles import COMPLIANCE, ScriptedRouter
from tests.config_paths import CONFIG_DIR

BRAND = Brand(tenant_id="t1")
ASK = ChatRequest(content="水光针多少钱？")


async def test_every_replica_uses_the_templates_a_reload_on_one_of_them_took(empty_database: str, tmp_path: Path) -> None:
    config = tmp_path / "configs"
    shutil.copytree(CONFIG_DIR, config)
    engine = make_engine(empty_database)
    await upgrade_to_head(engine)
    generations = GenerationStore(make_sessionmaker(engine))
    first, second = (kept_current(SocialAgent(ScriptedRouter(), COMPLIANCE, config), generations, "social", 0.0)  # type: ignore[arg-type]
                     for _ in range(2))
    try:
        await first.chat(ASK, BRAND), await second.chat(ASK, BRAND)
        templates = config / "social" / "templates.yaml"
        templates.write_text(templates.read_text("utf-8").replace("您好，感谢您的咨询！", "亲爱的顾客您好！"), "utf-8")
        assert (await first.reload("chat")).version
        assert (await second.chat(ASK, BRAND)).message.startswith("亲爱的顾客您好")
        assert (await first.chat(ASK, BRAND)).message.startswith("亲爱的顾客您好")
        templates.write_text("llm: [", "utf-8")
        with pytest.raises(ValueError):
            await second.reload("all")
        assert await generations.get("social") == 1  # a failed reload asks nothing of the others
    finally:
        await engine.dispose()
