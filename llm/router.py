"""The routing policy: which model answers a request, and what happens when one fails.

Per request: resolve the alias (ordered or weighted group) to configured
models, drop those whose context window is too small, admit the tenant, then
try the models in order. Each model gets per-attempt timeouts (first token,
total) and retries with exponential backoff and jitter on retryable errors;
other errors fall back to the next model at once. Models that keep failing
cool down. Usage and cost are returned with every response, and ``offline``
says when no real model answered (the offline placeholder did). Clock, sleep
and random are injected so tests drive backoff, jitter and cooldown without
waiting.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from llm import metrics
from llm.catalog import Catalog, ModelConfig, Timeouts, load_catalog
from llm.cooldown import Cooldowns
from llm.errors import (
    AllRoutesFailed,
    ContextWindowExceeded,
    InvalidLLMRequest,
    LLMError,
    LLMTimeout,
    NoOpenAIRoute,
    ProviderError,
    ProviderNotConfigured,
    ProviderTimeout,
    StructuredOutputInvalid,
    TenantRateLimited,
    UnknownModel,
)
from llm.limits import InMemoryTenantLimiter, RedisTenantLimiter, TenantLimiter
from llm.providers.base import (
    ChunkAccumulator,
    Provider,
    ProviderChunk,
    ProviderRequest,
    ProviderResult,
    ProviderSpec,
    build_provider,
)
from llm.settings import LLMSettings
from llm.structured import check_schema, parse_structured, repair_messages
from llm.tokens import estimate_prompt_tokens, estimate_tokens
from llm.types import Attempt, Lane, LLMRequest, LLMResponse, ModelInfo, StreamEvent, Usage

logger = logging.getLogger(__name__)
T = TypeVar("T")


def build_providers(
    catalog: Catalog, environ: Mapping[str, str], clients: Mapping[str, Any], simulated_overrides: dict[str, Any]
) -> tuple[dict[str, Provider], dict[str, str]]:
    """The providers that can run here, and why each of the others cannot (a missing key, URL or client)."""
    providers: dict[str, Provider] = {}
    unconfigured: dict[str, str] = {}
    for config in catalog.providers:
        api_key = environ.get(config.api_key_env) if config.api_key_env else None
        spec = ProviderSpec(
            name=config.name,
            type=config.type,
            api_key=api_key,
            base_url=(environ.get(config.base_url_env) if config.base_url_env else None) or config.base_url,
            options=config.options,
            overrides=simulated_overrides if config.type == "simulated" else {},
            client=clients.get(config.name),
        )
        try:
            if config.api_key_env and not api_key:
                raise ProviderNotConfigured(f"{config.api_key_env} is not set")
            providers[config.name] = build_provider(spec)
        except ProviderNotConfigured as exc:
            unconfigured[config.name] = str(exc)
            logger.info("LLM provider %s not configured: %s", config.name, exc)
    return providers, unconfigured


@dataclass
class _Answer:
    result: ProviderResult
    usage: Usage
    data: Any = None


@dataclass
class _OpenStream:
    request: ProviderRequest
    first: ProviderChunk | None
    chunks: AsyncGenerator[ProviderChunk, None]
    deadline: float  # event-loop time when the attempt's total timeout ends
    opened_at: float  # event-loop time of the provider call
    first_token_s: float  # the provider call to its first chunk


class Router:
    def __init__(
        self,
        catalog: Catalog,
        providers: Mapping[str, Provider],
        *,
        limiter: TenantLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        unconfigured: Mapping[str, str] | None = None,
    ) -> None:
        self.catalog = catalog
        self.unconfigured = dict(unconfigured or {})  # provider name -> why it cannot run here
        self._providers = dict(providers)
        self._limiter = limiter or InMemoryTenantLimiter()
        self._clock = clock
        self._sleep = sleep
        self._random = rng or random.Random()
        self._cooldowns = Cooldowns(catalog.defaults.cooldown, clock)

    @classmethod
    def from_settings(
        cls,
        settings: LLMSettings | None = None,
        *,
        clients: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Router:
        """Load the catalog and build its providers. ``clients``: injected clients by provider name (vllm)."""
        settings = settings or LLMSettings()
        catalog = load_catalog(settings.models_config)
        providers, unconfigured = build_providers(
            catalog, os.environ if environ is None else environ, clients or {}, settings.simulated_overrides()
        )
        limiter = RedisTenantLimiter.from_url(settings.redis_url) if settings.redis_url else InMemoryTenantLimiter()
        return cls(catalog, providers, limiter=limiter, unconfigured=unconfigured)

    # --- public API -------------------------------------------------------------------------------------------

    async def complete(self, request: LLMRequest) -> LLMResponse:
        started = self._clock()
        attempts: list[Attempt] = []
        answer, model = await self._routed(request, self._complete_once, attempts)
        await self._count_tokens(request.tenant_id, answer.usage, request.lane)
        response = self._response(model, answer, attempts, started)
        metrics.answered(response, request.lane)
        return response

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamEvent]:
        """Text deltas, then one event with the whole response. Falls back only until the first chunk arrives."""
        if request.json_schema is not None:  # the answer must be validated (and maybe repaired) before it is sent
            response = await self.complete(request)
            yield StreamEvent(delta=response.content, offline=response.offline)
            yield StreamEvent(offline=response.offline, response=response)
            return
        started = self._clock()
        attempts: list[Attempt] = []
        opened, model = await self._routed(request, self._open_stream, attempts)
        offline = self._is_offline(model)
        accumulator = ChunkAccumulator()
        chunks, last_chunk_at = 0, opened.opened_at + opened.first_token_s
        try:
            async with aclosing(opened.chunks):
                chunk = opened.first
                while chunk is not None:
                    chunks, last_chunk_at = chunks + 1, asyncio.get_running_loop().time()
                    accumulator.add(chunk)
                    if chunk.delta:
                        yield StreamEvent(delta=chunk.delta, offline=offline)
                    chunk = await self._next_chunk(opened.chunks, opened.deadline, "the stream to finish")
        except ProviderError as exc:
            self._trip(model.name)
            attempts[-1] = attempts[-1].model_copy(update={"ok": False, "error": f"after the stream started: {exc}"})
            error = LLMTimeout if isinstance(exc, ProviderTimeout) else AllRoutesFailed
            failure = error(f"{model.name} failed after the stream started: {exc}", details=_details(attempts))
            metrics.failed(failure, request.lane)
            raise failure from None
        finally:
            usage = self._usage(opened.request, accumulator.result())
            await self._count_tokens(request.tenant_id, usage, request.lane)
        metrics.streamed(model.name, model.provider, opened.first_token_s, chunks, last_chunk_at - opened.opened_at)
        response = self._response(model, _Answer(accumulator.result(), usage), attempts, started,
                                  first_token_ms=round(opened.first_token_s * 1000, 2))
        metrics.answered(response, request.lane)
        yield StreamEvent(offline=offline, response=response)

    async def responses(self, payload: dict[str, Any], tenant_id: str | None) -> dict[str, Any]:
        """OpenAI Responses API passthrough through the openai routes of ``payload["model"]`` (an alias or model).

        Returns OpenAI's response object plus ``mas``: {model, provider, cost_usd, latency_ms, attempts}.
        """
        if payload.get("stream"):
            raise InvalidLLMRequest("stream is not supported on the Responses passthrough")
        if not any(self.catalog.provider(name).type == "openai" for name in self._providers):
            raise NoOpenAIRoute("no openai provider is configured (MAS_OPENAI_API_KEY?)")
        started = self._clock()
        models = self._configured(payload.get("model"), provider_type="openai")
        await self._admit(tenant_id)
        attempts: list[Attempt] = []

        async def call(model: ModelConfig, provider: Any, timeouts: Timeouts) -> dict[str, Any]:
            return await _timed(provider.responses(model.upstream, payload), timeouts.total_s, "the response")

        try:
            body, model = await self._with_fallback(models, call, attempts)
        except LLMError as exc:
            metrics.failed(exc, "live")
            raise
        reported = body.get("usage") or {}
        usage = Usage(input_tokens=reported.get("input_tokens", 0), output_tokens=reported.get("output_tokens", 0))
        await self._count_tokens(tenant_id, usage)
        response = self._response(model, _Answer(ProviderResult(), usage), attempts, started)
        metrics.answered(response, "live")
        mas = response.model_dump(include={"model", "provider", "cost_usd", "latency_ms", "attempts"})
        return {**body, "mas": mas}

    async def models(self) -> list[ModelInfo]:
        """Aliases with at least one configured model, then the configured models (async like every handle call)."""
        infos = []
        for alias in self.catalog.aliases:
            members = [model for name in alias.members if (model := self.catalog.model(name)) and self._is_configured(model)]
            if members:
                window = max(model.context_window for model in members)
                infos.append(ModelInfo(id=alias.name, kind="alias", provider=None, context_window=window))
        for model in self.catalog.models:
            if self._is_configured(model):
                infos.append(ModelInfo(id=model.name, kind="model", provider=model.provider, context_window=model.context_window))
        return infos

    async def close(self) -> None:
        for provider in self._providers.values():
            await provider.close()
        await self._limiter.close()

    # --- planning ---------------------------------------------------------------------------------------------

    def _is_configured(self, model: ModelConfig) -> bool:
        return model.provider in self._providers

    def _provider_type(self, model: ModelConfig) -> str:
        return self.catalog.provider(model.provider).type

    def _is_offline(self, model: ModelConfig) -> bool:
        """Whether ``model`` is the offline placeholder rather than a real model."""
        return self._provider_type(model) == "offline"

    def _configured(self, name: str | None, provider_type: str | None = None) -> list[ModelConfig]:
        """The configured models of an alias (weighted ones in a weighted random order) or the one named model;
        with ``provider_type``, only those of that provider type.
        """
        name = name or self.catalog.defaults.alias
        alias, model = self.catalog.alias(name), self.catalog.model(name)
        if alias is None and model is None:
            raise UnknownModel(f"unknown model or alias {name!r}", details={"model": name})
        members = [self.catalog.model(member) for member in alias.members] if alias else [model]
        configured = [
            member
            for member in members
            if member and self._is_configured(member) and provider_type in (None, self._provider_type(member))
        ]
        if not configured and provider_type == "openai":
            raise NoOpenAIRoute(f"{name!r} has no configured openai model", details={"model": name})
        if not configured:
            raise UnknownModel(f"{name!r} has no configured model (missing API key or base URL?)", details={"model": name})
        if alias and alias.weighted is not None:
            return self._weighted_order(configured, alias.weighted)
        return configured

    def _weighted_order(self, models: list[ModelConfig], weights: dict[str, float]) -> list[ModelConfig]:
        """Draw without replacement by weight; zero-weight models only serve as the last fallbacks."""
        remaining = [model for model in models if weights[model.name] > 0]
        ordered = []
        while remaining:
            pick = self._random.choices(remaining, weights=[weights[model.name] for model in remaining])[0]
            ordered.append(pick)
            remaining.remove(pick)
        return ordered + [model for model in models if weights[model.name] <= 0]

    async def _plan(self, request: LLMRequest) -> list[ModelConfig]:
        if request.json_schema is not None:
            check_schema(request.json_schema)
        models = self._configured(request.model)
        needed = estimate_prompt_tokens(request.messages, request.system, request.tools) + (request.max_tokens or 0)
        fitting = [model for model in models if model.context_window >= needed]
        if not fitting:
            largest = max(model.context_window for model in models)
            raise ContextWindowExceeded(
                f"about {needed} tokens (prompt + max_tokens) exceed the largest context window ({largest}) "
                f"of {request.model or self.catalog.defaults.alias!r}",
                details={"estimated_tokens": needed, "largest_context_window": largest},
            )
        await self._admit(request.tenant_id, request.lane)
        return fitting

    async def _admit(self, tenant_id: str | None, lane: Lane = "live") -> None:
        if tenant_id is not None:
            try:
                await self._limiter.admit(_bucket(tenant_id, lane), self.catalog.limits.for_tenant(tenant_id))
            except TenantRateLimited:
                metrics.rate_limited(tenant_id, lane)
                raise

    async def _count_tokens(self, tenant_id: str | None, usage: Usage, lane: Lane = "live") -> None:
        if tenant_id is not None:
            await self._limiter.add_tokens(_bucket(tenant_id, lane), usage.total_tokens)

    # --- attempts ---------------------------------------------------------------------------------------------

    async def _routed(self, request: LLMRequest, call: Callable[..., Awaitable[T]], attempts: list[Attempt]) -> tuple[T, ModelConfig]:
        """``call(request, model, provider, timeouts)`` on the planned models; a request nothing answers is counted."""
        try:
            return await self._with_fallback(await self._plan(request), partial(call, request), attempts)
        except LLMError as exc:
            metrics.failed(exc, request.lane)
            raise

    async def _with_fallback(
        self,
        models: list[ModelConfig],
        call: Callable[[ModelConfig, Provider, Timeouts], Awaitable[T]],
        attempts: list[Attempt],
    ) -> tuple[T, ModelConfig]:
        """``call`` on each model in turn (skipping cooling ones), retrying retryable errors with backoff."""
        failures: list[ProviderError] = []
        cooling: list[str] = []
        retry = self.catalog.defaults.retry
        for model in models:
            if not self._cooldowns.admit(model.name):
                cooling.append(model.name)
                continue
            if attempts and not attempts[-1].ok:
                metrics.fell_back(attempts[-1].model)
            for try_number in range(retry.max_retries + 1):
                if try_number:
                    metrics.retried(model.name)
                    await self._sleep(self._backoff(try_number, failures[-1]))
                started = self._clock()
                try:
                    value = await call(model, self._providers[model.provider], self.catalog.timeouts(model))
                except ProviderError as exc:
                    attempts.append(self._attempt(model, started, exc))
                    failures.append(exc)
                    self._trip(model.name)
                    # The type and status, not the message: a provider's error may quote the prompt or the output.
                    logger.warning("LLM attempt on %s failed: %s (HTTP status %s)", model.name, type(exc).__name__, exc.status)
                    if exc.retryable and not self._cooldowns.cooling(model.name):
                        continue
                    break
                except BaseException:  # cancelled by the caller, or a verdict such as invalid structured output
                    self._cooldowns.abandoned(model.name)
                    raise
                attempts.append(self._attempt(model, started))
                self._cooldowns.succeeded(model.name)
                return value, model
        raise _exhausted(attempts, failures, cooling)

    def _trip(self, model: str) -> None:
        """A failure of ``model``, counted towards its cooldown."""
        if self._cooldowns.failed(model):
            metrics.cooled_down(model)

    def _backoff(self, try_number: int, error: ProviderError) -> float:
        """Exponential backoff with equal jitter (half fixed, half random); a longer Retry-After wins, up to the cap."""
        policy = self.catalog.defaults.retry
        ceiling = min(policy.max_delay_s, policy.base_delay_s * 2 ** (try_number - 1))
        delay = ceiling / 2 + self._random.uniform(0, ceiling / 2)
        if error.retry_after is not None:
            delay = max(delay, min(error.retry_after, policy.max_delay_s))
        return delay

    def _attempt(self, model: ModelConfig, started: float, error: ProviderError | None = None) -> Attempt:
        metrics.attempt(model.name, model.provider, error)
        return Attempt(
            model=model.name,
            provider=model.provider,
            ok=error is None,
            error=None if error is None else f"{type(error).__name__}: {error}",
            latency_ms=(self._clock() - started) * 1000,
        )

    def _provider_request(self, request: LLMRequest, model: ModelConfig) -> ProviderRequest:
        return ProviderRequest(
            model=model.upstream,
            **request.model_dump(include={"messages", "system", "temperature", "max_tokens", "tools", "json_schema"}),
            options=model.options,
        )

    async def _complete_once(self, request: LLMRequest, model: ModelConfig, provider: Provider, timeouts: Timeouts) -> _Answer:
        """One completion; with a schema, the answer is validated and, if invalid, repaired once on the same model."""
        call = self._provider_request(request, model)
        result = await _timed(provider.complete(call), timeouts.total_s, "the answer")
        usage = self._usage(call, result)
        if request.json_schema is None:
            return _Answer(result, usage)
        data, problem = parse_structured(result.content, request.json_schema)
        if problem is None:
            return _Answer(result, usage, data)
        repair = call.model_copy(update={"messages": repair_messages(call.messages, result.content, problem)})
        result = await _timed(provider.complete(repair), timeouts.total_s, "the repaired answer")
        usage += self._usage(repair, result)
        data, problem = parse_structured(result.content, request.json_schema)
        if problem is not None:
            raise StructuredOutputInvalid(
                f"{model.name} did not produce output valid against the schema after one repair: {problem}",
                details={"model": model.name, "problem": problem, "output": result.content[:2000], "usage": usage.model_dump()},
            )
        return _Answer(result, usage, data)

    async def _open_stream(self, request: LLMRequest, model: ModelConfig, provider: Provider, timeouts: Timeouts) -> _OpenStream:
        """Start a stream and wait for its first chunk; the stream is closed if that fails."""
        call = self._provider_request(request, model)
        now = asyncio.get_running_loop().time()
        deadline = now + timeouts.total_s
        chunks = provider.stream(call)
        try:
            first = await self._next_chunk(chunks, min(deadline, now + timeouts.first_token_s), "the first token")
        except BaseException:
            await chunks.aclose()
            raise
        return _OpenStream(call, first, chunks, deadline, now, asyncio.get_running_loop().time() - now)

    @staticmethod
    async def _next_chunk(chunks: AsyncGenerator[ProviderChunk, None], deadline: float, what: str) -> ProviderChunk | None:
        try:
            async with asyncio.timeout_at(deadline):
                return await anext(chunks, None)
        except TimeoutError:
            raise ProviderTimeout(f"timed out waiting for {what}") from None

    @staticmethod
    def _usage(request: ProviderRequest, result: ProviderResult) -> Usage:
        """The provider's reported usage, else an estimate."""
        if result.usage is not None:
            return result.usage
        output = result.content + "".join(call.name + call.arguments for call in result.tool_calls)
        return Usage(
            input_tokens=estimate_prompt_tokens(request.messages, request.system, request.tools),
            output_tokens=estimate_tokens(output),
        )

    def _response(self, model: ModelConfig, answer: _Answer, attempts: list[Attempt], started: float,
                  first_token_ms: float | None = None) -> LLMResponse:
        return LLMResponse(
            content=answer.result.content,
            model=model.name,
            provider=model.provider,
            usage=answer.usage,
            cost_usd=model.cost_usd(answer.usage),
            latency_ms=(self._clock() - started) * 1000,
            first_token_ms=first_token_ms,
            finish_reason=answer.result.finish_reason,
            tool_calls=answer.result.tool_calls,
            data=answer.data,
            attempts=attempts,
            offline=self._is_offline(model),
        )


async def _timed(awaitable: Awaitable[T], seconds: float, what: str) -> T:
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except TimeoutError:
        raise ProviderTimeout(f"timed out waiting for {what} ({seconds:g}s)") from None


def _details(attempts: list[Attempt], cooling: Sequence[str] = ()) -> dict[str, Any]:
    details: dict[str, Any] = {"attempts": [attempt.model_dump() for attempt in attempts]}
    if cooling:
        details["cooling"] = list(cooling)
    return details


def _exhausted(attempts: list[Attempt], failures: list[ProviderError], cooling: list[str]) -> LLMError:
    details = _details(attempts, cooling)
    if failures and all(isinstance(failure, ProviderTimeout) for failure in failures):
        return LLMTimeout(f"every attempt timed out ({len(failures)} attempts)", details=details)
    if not failures:
        return AllRoutesFailed(f"every model is cooling down after repeated failures: {', '.join(cooling)}", details=details)
    skipped = f"; {len(cooling)} model(s) cooling down" if cooling else ""
    return AllRoutesFailed(f"every route failed ({len(failures)} attempts{skipped}); last: {failures[-1]}", details=details)


def _bucket(tenant_id: str, lane: Lane) -> str:
    """A tenant's limits are counted per lane: its batch jobs never spend the budget its live conversations need."""
    return tenant_id if lane == "live" else f"{tenant_id}/{lane}"
