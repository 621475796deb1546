"""``VLLMServer``: one vLLM model as a Serve deployment, streaming to the LLM router (optional, GPU).

The model and its engine arguments come from its entry in configs/models.yaml;
GPUs and replicas from serve.yaml (``ray_actor_options: {num_gpus: 1}``). The
GPU workers need the ``[vllm]`` extra, in the vLLM build that matches their CUDA.
Callers stream with ``handle.options(stream=True).generate.remote(request)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ray import serve

from deployments.agents import Overrides
from deployments.replica import replica_settings
from llm.coalesce import HOP_INTERVAL_S, coalesced
from llm.vllm_engine import VLLMChunk, VLLMRequest, merge_chunks
from runtime import components


@serve.deployment(name="VLLMServer")
class VLLMServer:
    async def __init__(self, model: str, settings: Overrides = None) -> None:
        """``model``: the model's name in the router's catalog (``MAS_MODELS_CONFIG``, default models.yaml of the
        config dir)."""
        self._engine = components.vllm_engine(replica_settings(settings), model)
        await self._engine.start()

    async def generate(self, request: VLLMRequest | dict[str, Any]) -> AsyncIterator[VLLMChunk]:
        async for chunk in coalesced(self._engine.generate(VLLMRequest.model_validate(request)), merge_chunks, HOP_INTERVAL_S):
            yield chunk

    async def check_health(self) -> None:
        await self._engine.check_health()

    def __del__(self) -> None:
        if engine := getattr(self, "_engine", None):  # absent when __init__ failed
            engine.shutdown()
