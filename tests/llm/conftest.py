"""Fake OpenAI and Anthropic HTTP servers, started once per test session (each test scripts its replies)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.llm.fake_servers import FakeAnthropicServer, FakeOpenAIServer


@pytest.fixture(scope="session")
def openai_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="session")
def anthropic_server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as server:
        yield server
