from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.telemetry.recording import RecordingMetrics, recording


@pytest.fixture
def recorded() -> Iterator[RecordingMetrics]:
    """Every ``mas_`` figure this test records (tenant "tenant-a" on the allow-list)."""
    with recording(tenants=("tenant-a",)) as recorder:
        yield recorder
