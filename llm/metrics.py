"""The router's figures as ``mas_llm_*`` metrics (``telemetry.metrics``): requests, tokens and cost by the model that
answered, attempts, retries, fallbacks, cooldowns, tenant refusals, time to first token and the gaps between chunks."""

from __future__ import annotations

from llm.errors import LLMError
from llm.types import Lane, LLMResponse
from telemetry import metrics
from telemetry.metrics import record


def answered(response: LLMResponse, lane: Lane) -> None:
    model, provider = response.model, response.provider
    record(metrics.LLM_REQUESTS, model=model, provider=provider, outcome="ok", lane=lane)
    record(metrics.LLM_TOKENS, response.usage.input_tokens, model=model, provider=provider, direction="input", lane=lane)
    record(metrics.LLM_TOKENS, response.usage.output_tokens, model=model, provider=provider, direction="output", lane=lane)
    record(metrics.LLM_COST, response.cost_usd, model=model, provider=provider, lane=lane)


def failed(error: LLMError, lane: Lane) -> None:
    """A request no model answered; its code (ALL_ROUTES_FAILED, LLM_TIMEOUT, TENANT_RATE_LIMITED...) is the outcome."""
    record(metrics.LLM_REQUESTS, model="none", provider="none", outcome=error.code, lane=lane)


def attempt(model: str, provider: str, error: Exception | None) -> None:
    record(metrics.LLM_ATTEMPTS, model=model, provider=provider, outcome="ok" if error is None else type(error).__name__)


def retried(model: str) -> None:
    record(metrics.LLM_RETRIES, model=model)


def fell_back(model: str) -> None:
    record(metrics.LLM_FALLBACKS, model=model)


def cooled_down(model: str) -> None:
    record(metrics.LLM_COOLDOWNS, model=model)


def rate_limited(tenant_id: str, lane: Lane) -> None:
    record(metrics.LLM_RATE_LIMITED, tenant=metrics.tenant_label(tenant_id), lane=lane)


def streamed(model: str, provider: str, first_token_s: float, chunks: int, last_chunk_after_s: float) -> None:
    """One stream's time to first token and, when it had more than one chunk, the mean gap between them."""
    record(metrics.LLM_TTFT, first_token_s, model=model, provider=provider)
    if chunks > 1:
        record(metrics.LLM_INTER_TOKEN, (last_chunk_after_s - first_token_s) / (chunks - 1), model=model, provider=provider)
