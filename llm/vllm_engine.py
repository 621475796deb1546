"""The in-cluster vLLM engine: chat requests in, incremental text chunks out, on vLLM's async engine.

Pure Python. vLLM (the optional ``[vllm]`` extra, whichever build matches the
local CUDA) is imported only inside ``build_async_engine`` and
``build_sampling_params``, so this module loads, and is tested, without it.
What happens between them is plain translation: chat turns through the
model's own chat template, request fields to ``SamplingParams`` keywords, and
vLLM's cumulative ``RequestOutput`` stream to deltas plus final usage.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import aclosing
from typing import Any, Protocol

from pydantic import BaseModel, Field

from llm.errors import ProviderError, ProviderRejected, ProviderServerError
from llm.types import ChatMessage

logger = logging.getLogger(__name__)

# What a finished vLLM request may report besides a normal end ("abort", and "error" in newer versions).
NORMAL_FINISH_REASONS = frozenset({"stop", "length"})
# Sampling settings taken from the model's generation_config.json, as `vllm serve` applies them by default.
MODEL_DEFAULT_KEYS = ("temperature", "top_p", "top_k", "min_p", "repetition_penalty")


class VLLMEngineConfig(BaseModel):
    """One vLLM model, from its entry in configs/models.yaml."""

    model: str = Field(description="What vLLM loads: a Hugging Face id or a local path (the entry's `model`, else `name`).")
    served_name: str = Field(description="The catalog name; vLLM's metrics are labelled with it.")
    engine_args: dict[str, Any] = Field(default={}, description="Keyword arguments for vLLM's AsyncEngineArgs.")
    default_max_tokens: int = Field(default=1024, ge=1, description="When a request sets none (vLLM's own default is 16).")


class VLLMRequest(BaseModel):
    """What the router's vllm provider sends to a ``VLLMServer`` replica."""

    model: str = Field(description="The model the router chose; a replica serves one and rejects the others.")
    messages: list[ChatMessage] = Field(min_length=1)
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    top_p: float | None = None
    stop: list[str] = []
    seed: int | None = None
    json_schema: dict[str, Any] | None = Field(default=None, description="Constrains decoding to JSON valid against it.")


class VLLMUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class VLLMChunk(BaseModel):
    """New text since the previous chunk; the last chunk also carries the finish reason and usage."""

    delta: str = ""
    finish_reason: str | None = None
    usage: VLLMUsage | None = None


def merge_chunks(first: VLLMChunk, second: VLLMChunk) -> VLLMChunk | None:
    """Two chunks as one (for ``llm.coalesce.coalesced``) unless the first is already the last."""
    if first.finish_reason is not None or first.usage is not None:
        return None
    return VLLMChunk(delta=first.delta + second.delta, finish_reason=second.finish_reason, usage=second.usage)


class ChatTokenizer(Protocol):
    """The part of a Hugging Face tokenizer (as vLLM's engine hands it out) that this module uses."""

    def apply_chat_template(self, conversation: list[dict[str, str]], **kwargs: Any) -> Any: ...

    def encode(self, text: str, **kwargs: Any) -> list[int]: ...


def chat_turns(messages: list[ChatMessage], system: str | None = None) -> list[dict[str, str]]:
    """The conversation as chat-template input: all system text first, as one turn (most templates accept no other)."""
    system_parts = ([system] if system else []) + [m.content for m in messages if m.role == "system"]
    turns = [{"role": "system", "content": "\n\n".join(system_parts)}] if system_parts else []
    return turns + [{"role": m.role, "content": m.content} for m in messages if m.role != "system"]


def fold_system_turn(turns: list[dict[str, str]]) -> list[dict[str, str]]:
    """For templates without a system role (Gemma, for one): the system text opens the first user turn instead."""
    system, rest = turns[0]["content"], turns[1:]
    first_user = next((index for index, turn in enumerate(rest) if turn["role"] == "user"), None)
    if first_user is None:
        return [{"role": "user", "content": system}, *rest]
    folded = {"role": "user", "content": f"{system}\n\n{rest[first_user]['content']}"}
    return [*rest[:first_user], folded, *rest[first_user + 1:]]


def render_prompt(tokenizer: ChatTokenizer, turns: list[dict[str, str]]) -> list[int]:
    """Prompt token ids from the model's chat template.

    The template already writes the special tokens (BOS and the like), so the
    text is encoded without adding them again, as vLLM's own chat entry point does.
    """
    try:
        text = _apply_template(tokenizer, turns)
    except Exception as exc:
        if turns[0]["role"] != "system":
            raise ProviderRejected(f"the model's chat template rejected the conversation: {exc}", status=400) from exc
        try:
            text = _apply_template(tokenizer, fold_system_turn(turns))
        except Exception as retry_exc:
            raise ProviderRejected(f"the model's chat template rejected the conversation: {retry_exc}", status=400) from exc
    return list(tokenizer.encode(text, add_special_tokens=False))


def _apply_template(tokenizer: ChatTokenizer, turns: list[dict[str, str]]) -> str:
    return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)


def sampling_kwargs(
    request: VLLMRequest,
    prompt_tokens: int,
    *,
    default_max_tokens: int,
    max_model_len: int | None = None,
    model_defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``SamplingParams`` keywords for ``request`` (the JSON schema is added by ``build_sampling_params``).

    The request's own settings win over the model's generation-config
    defaults; ``max_tokens`` is capped to what is left of the context window.
    """
    room = None if max_model_len is None else max_model_len - prompt_tokens
    if room is not None and room < 1:
        raise ProviderRejected(
            f"the prompt ({prompt_tokens} tokens) leaves no room in the model's {max_model_len}-token context", status=400
        )
    max_tokens = request.max_tokens or default_max_tokens
    explicit = {
        "max_tokens": max_tokens if room is None else min(max_tokens, room),
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stop": request.stop or None,
        "seed": request.seed,
    }
    defaults = {key: value for key, value in (model_defaults or {}).items() if key in MODEL_DEFAULT_KEYS}
    return defaults | {key: value for key, value in explicit.items() if value is not None}


def build_sampling_params(kwargs: dict[str, Any], json_schema: dict[str, Any] | None) -> Any:
    """vLLM's ``SamplingParams``; a JSON schema becomes structured (guided) decoding in either vLLM generation."""
    from vllm import SamplingParams

    if json_schema is not None:
        kwargs = kwargs | _structured_output_kwargs(json_schema)
    return SamplingParams(**kwargs)


def _structured_output_kwargs(json_schema: dict[str, Any]) -> dict[str, Any]:
    try:
        from vllm.sampling_params import StructuredOutputsParams  # vLLM >= 0.11
    except ImportError:
        from vllm.sampling_params import GuidedDecodingParams  # vLLM 0.10

        return {"guided_decoding": GuidedDecodingParams(json=json_schema)}
    return {"structured_outputs": StructuredOutputsParams(json=json_schema)}


def build_async_engine(config: VLLMEngineConfig) -> Any:
    """vLLM's V1 ``AsyncLLM``; call it inside the event loop that will use it (vLLM starts its output task there)."""
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.v1.engine.async_llm import AsyncLLM

    args = AsyncEngineArgs(**({"model": config.model, "served_model_name": config.served_name} | config.engine_args))
    return AsyncLLM.from_engine_args(args)


class DeltaTracker:
    """Turns vLLM's cumulative ``RequestOutput`` stream (the whole text so far, each time) into ``VLLMChunk`` deltas."""

    def __init__(self, prompt_tokens: int) -> None:
        self._prompt_tokens = prompt_tokens
        self._sent = 0
        self.finished = False

    def feed(self, output: Any) -> VLLMChunk | None:
        """The chunk for one output, or None when it adds no text and does not finish the request."""
        completion = output.outputs[0]
        delta, self._sent = completion.text[self._sent:], len(completion.text)
        if not output.finished:
            return VLLMChunk(delta=delta) if delta else None
        self.finished = True
        if completion.finish_reason not in NORMAL_FINISH_REASONS:
            raise ProviderServerError(f"vLLM ended the request with finish reason {completion.finish_reason!r}")
        prompt_tokens = len(output.prompt_token_ids) if output.prompt_token_ids is not None else self._prompt_tokens
        usage = VLLMUsage(prompt_tokens=prompt_tokens, completion_tokens=len(completion.token_ids))
        return VLLMChunk(delta=delta, finish_reason=completion.finish_reason, usage=usage)


def provider_error(exc: Exception) -> ProviderError:
    """The router's error for an exception out of vLLM, matched by class name so that no vLLM import is needed.

    Invalid requests (``ValueError``, ``VLLMValidationError``) cannot succeed on
    a retry; everything else (``EngineDeadError``, ``EngineGenerateError``) is
    a server fault, which the router retries and then falls back from.
    """
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "ValueError" in names or "VLLMValidationError" in names:
        return ProviderRejected(f"vLLM rejected the request: {exc}", status=400)
    return ProviderServerError(f"vLLM failed: {type(exc).__name__}: {exc}")


class VLLMEngine:
    """One vLLM model in this process: ``await start()``, then ``generate`` any number of requests concurrently.

    ``engine_factory`` and ``sampling_params_factory`` default to the real vLLM
    builders; tests pass test doubles.
    """

    def __init__(
        self,
        config: VLLMEngineConfig,
        *,
        engine_factory: Callable[[VLLMEngineConfig], Any] = build_async_engine,
        sampling_params_factory: Callable[[dict[str, Any], dict[str, Any] | None], Any] = build_sampling_params,
    ) -> None:
        self.config = config
        self._engine_factory = engine_factory
        self._sampling_params_factory = sampling_params_factory
        self._engine: Any = None
        self._tokenizer: ChatTokenizer | None = None
        self._max_model_len: int | None = None
        self._model_defaults: dict[str, Any] = {}

    async def start(self) -> None:
        """Build the engine (loads the weights: minutes for a large model) and fetch its tokenizer and limits."""
        engine = self._engine_factory(self.config)
        tokenizer = engine.get_tokenizer()
        if inspect.isawaitable(tokenizer):  # a coroutine in vLLM 0.10, a plain method later
            tokenizer = await tokenizer
        model_config = getattr(engine, "model_config", None)
        self._max_model_len = getattr(model_config, "max_model_len", None)
        get_defaults = getattr(model_config, "get_diff_sampling_param", None)
        self._model_defaults = dict(get_defaults()) if get_defaults else {}
        self._engine, self._tokenizer = engine, tokenizer

    async def generate(self, request: VLLMRequest) -> AsyncIterator[VLLMChunk]:
        """Stream ``request``'s answer. Closing the stream early, or cancelling its consumer, aborts the vLLM request."""
        engine, tokenizer = self._running()
        if request.model not in (self.config.model, self.config.served_name):
            raise ProviderRejected(f"this vLLM server runs {self.config.served_name}, not {request.model}", status=404)
        prompt_ids = render_prompt(tokenizer, chat_turns(request.messages, request.system))
        kwargs = sampling_kwargs(request, len(prompt_ids), default_max_tokens=self.config.default_max_tokens,
                                 max_model_len=self._max_model_len, model_defaults=self._model_defaults)
        try:
            params = self._sampling_params_factory(kwargs, request.json_schema)
        except Exception as exc:  # vLLM validates the values (a negative temperature, say) in SamplingParams
            raise provider_error(exc) from exc
        request_id = uuid.uuid4().hex
        tracker = DeltaTracker(len(prompt_ids))
        try:
            async with aclosing(engine.generate({"prompt_token_ids": prompt_ids}, params, request_id)) as outputs:
                async for output in outputs:
                    chunk = tracker.feed(output)
                    if chunk is not None:
                        yield chunk
                    if tracker.finished:
                        return
            raise ProviderServerError("vLLM's output stream ended before the request finished")
        except ProviderError:
            raise
        except Exception as exc:
            raise provider_error(exc) from exc
        finally:
            if not tracker.finished:
                # vLLM 0.10 aborts on cancellation but not when its generator is merely closed: abort explicitly.
                await self._abort(engine, request_id)

    async def check_health(self) -> None:
        """Raises when the engine is not running or its core process died."""
        engine, _ = self._running()
        await engine.check_health()

    def shutdown(self) -> None:
        if self._engine is not None:
            self._engine.shutdown()
            self._engine = None

    def _running(self) -> tuple[Any, ChatTokenizer]:
        if self._engine is None or self._tokenizer is None:
            raise ProviderServerError("the vLLM engine is not running")
        return self._engine, self._tokenizer

    @staticmethod
    async def _abort(engine: Any, request_id: str) -> None:
        try:
            await engine.abort(request_id)
        except Exception:
            logger.warning("could not abort vLLM request %s", request_id, exc_info=True)
