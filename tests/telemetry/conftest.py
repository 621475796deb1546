from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.test_runs import Chat, new_chat
from tests.client import ApiClient
from tests.telemetry.recording import RecordingMetrics, recording


@pytest.fixture
def recorded() -> Iterator[RecordingMetrics]:
    """Every ``mas_`` figure this test records (tenant "tenant-a" on the allow-list)."""
    with recording(tenants=("tenant-a",)) as recorder:
        yield recorder


@pytest.fixture
async def chat(tenant_a: ApiClient) -> Chat:
    """An assistant (prompt version 1, a catalog) and a thread of tenant-a, through the in-process API."""
    return await new_chat(tenant_a)
