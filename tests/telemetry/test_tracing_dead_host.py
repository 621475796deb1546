"""A Langfuse that cannot be reached changes nothing for the customer: every turn answers as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.settings import Settings
from tests.api.test_runs import Chat
from tests.telemetry.test_tracing import PHONE, free_port, traced


@pytest.fixture
def settings(tmp_path: Path, empty_database: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=empty_database, jwt_secret="test-secret-" + "x" * 52,
                    **traced(f"http://127.0.0.1:{free_port()}"))


async def test_turns_answer_as_usual_with_langfuse_down(chat: Chat) -> None:
    assert chat.client.services.settings.tracing_enabled
    results = [await chat.wait(text) for text in ("想了解补水", "价格多少", f"电话{PHONE}")]
    assert [result["status"] for result in results] == ["completed"] * 3
    assert all(result["response"] and result["processing_time"] < 5 for result in results)
