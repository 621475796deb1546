"""HandleClient: a replica that dies mid-call is retried where that is safe, and reported as ReplicaLost where not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from ray.exceptions import ActorDiedError

from agents.graph import ReplicaLost
from deployments import handles
from deployments.handles import HandleClient


class DyingReplicasHandle:
    """A DeploymentHandle double whose first ``deaths`` calls land on a replica that dies (after ``items_before_death``
    items of a stream); later calls answer."""

    deployment_name = "Agent"

    def __init__(self, deaths: int, items_before_death: int = 0) -> None:
        self.deaths, self.items_before_death, self.calls = deaths, items_before_death, 0

    def __getattr__(self, name: str) -> Any:
        handle = self

        class Method:
            @staticmethod
            def remote(*args: Any) -> Any:
                return handle._answer(args)

        return Method

    def options(self, **_: Any) -> Any:
        return self

    def remote(self, *args: Any) -> Any:
        return self._stream(args)

    async def _answer(self, args: tuple[Any, ...]) -> Any:
        self.calls += 1
        if self.calls <= self.deaths:
            raise ActorDiedError()
        return args

    def _stream(self, args: tuple[Any, ...]) -> Any:
        self.calls += 1
        dies = self.calls <= self.deaths
        items = self.items_before_death

        class Stream:
            def cancel(self) -> None:
                pass

            async def __aiter__(self) -> AsyncIterator[int]:  # type: ignore[misc]
                for item in range(items if dies else 3):
                    yield item
                if dies:
                    raise ActorDiedError()

        return Stream()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handles, "RETRY_DELAYS_S", (0.0, 0.0, 0.0))


async def test_a_call_whose_replica_died_is_retried_on_the_next_one() -> None:
    handle = DyingReplicasHandle(deaths=2)
    assert await HandleClient(handle).check("text") == ("text",)  # type: ignore[arg-type]
    assert handle.calls == 3


async def test_a_call_gives_up_with_replica_lost_after_its_retries() -> None:
    handle = DyingReplicasHandle(deaths=10)
    with pytest.raises(ReplicaLost, match="Agent.check"):
        await HandleClient(handle).check("text")  # type: ignore[arg-type]
    assert handle.calls == 4


async def test_a_stream_that_lost_its_replica_before_the_first_item_starts_again() -> None:
    handle = DyingReplicasHandle(deaths=1)
    client = HandleClient(handle, streams=frozenset({"run"}))  # type: ignore[arg-type]
    assert [item async for item in client.run()] == [0, 1, 2]


async def test_a_stream_that_lost_its_replica_mid_way_is_not_replayed() -> None:
    handle = DyingReplicasHandle(deaths=1, items_before_death=2)
    client = HandleClient(handle, streams=frozenset({"run"}))  # type: ignore[arg-type]
    seen = []
    with pytest.raises(ReplicaLost):
        async for item in client.run():
            seen.append(item)
    assert seen == [0, 1] and handle.calls == 1
