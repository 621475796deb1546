"""``LLMRouter`` deployment: the llm/ router; every agent and the ingress call it through a handle."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ray import serve
from ray.serve.handle import DeploymentHandle

from deployments.agents import Overrides
from deployments.forwarding import Serves
from deployments.handles import HandleClient
from deployments.replica import replica_settings
from llm.coalesce import HOP_INTERVAL_S, coalesced
from llm.types import LLMRequest, StreamEvent, merge_deltas
from llm.vllm_engine import VLLMChunk, VLLMRequest
from runtime import components


class VLLMServerClient:
    """The ``VLLMClient`` the router's vllm provider streams from: the in-cluster VLLMServer deployment."""

    def __init__(self, handle: DeploymentHandle) -> None:
        self._server = HandleClient(handle, streams=frozenset({"generate"}))

    def stream(self, request: VLLMRequest) -> AsyncIterator[VLLMChunk]:
        return self._server.generate(request)


@serve.deployment(name="LLMRouter")
class LLMRouter(Serves):
    def __init__(self, vllm_server: DeploymentHandle | None = None, vllm_provider: str = "vllm",
                 settings: Overrides = None) -> None:
        """``vllm_server``: the VLLMServer deployment backing the catalog provider named ``vllm_provider``."""
        clients = {vllm_provider: VLLMServerClient(vllm_server)} if vllm_server is not None else {}
        self.target = components.llm_router(replica_settings(settings), clients)

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamEvent]:
        """The router's stream with deltas merged per HOP_INTERVAL_S: each item crossing the handle has a fixed cost."""
        async for event in coalesced(self.target.stream(request), merge_deltas, HOP_INTERVAL_S):
            yield event

    async def __del__(self) -> None:
        await self.target.close()
