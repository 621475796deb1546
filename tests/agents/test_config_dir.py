"""Agents read their data from the config dir they are built with (``MAS_CONFIG_DIR``), not from the repository's."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agents.sales import AssistantProfile, SalesAgent, SalesInput
from agents.sentiment import SentimentAgent, SentimentInput
from llm.router import Router
from runtime import components
from runtime.settings import Settings
from tests.config_paths import CONFIG_DIR


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings from the environment, with ``MAS_CONFIG_DIR`` naming a copy of the repository's configs."""
    shutil.copytree(CONFIG_DIR, tmp_path / "configs")
    monkeypatch.setenv("MAS_CONFIG_DIR", str(tmp_path / "configs"))
    return Settings()


@pytest.fixture
async def llm(settings: Settings) -> AsyncIterator[Router]:
    router = Router.from_settings(settings, environ={})
    yield router
    await router.close()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_sales_reads_its_strategies_from_the_config_dir(settings: Settings, llm: Router) -> None:
    edit(settings.config_dir / "prompts" / "strategies.yaml", "first_contact: 初次接触", "first_contact: 第一次来问的客户")
    turn = SalesInput(text="想补水", assistant=AssistantProfile(assistant_name="小雅"))
    assert "阶段：初次接触" in SalesAgent(llm, CONFIG_DIR).request(turn).system
    assert "阶段：第一次来问的客户" in components.sales(settings, llm).request(turn).system


async def test_sentiment_reads_its_lexicon_from_the_config_dir(settings: Settings, llm: Router) -> None:
    edit(settings.config_dir / "sentiment" / "lexicon.yaml", "words: [爱了, ", "words: [嘎嘎嘎, 爱了, ")
    message = SentimentInput(text="嘎嘎嘎")
    assert (await SentimentAgent(llm, "offline", CONFIG_DIR).analyse(message)).label == "neutral"
    assert (await components.sentiment(settings, llm).analyse(message)).label == "positive"
