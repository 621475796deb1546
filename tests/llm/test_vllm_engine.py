"""The in-cluster vLLM engine without vLLM or a GPU: chat template, sampling settings, delta stream, abort, errors.

vLLM's async engine, its tokenizer and its ``RequestOutput``s are replaced by
the test doubles below, which behave as vLLM's V1 ``AsyncLLM`` does: outputs
carry the whole text so far, and the last one is ``finished``.
"""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jinja2
import pytest

from llm.catalog import parse_catalog
from llm.errors import ProviderRejected, ProviderServerError
from llm.types import ChatMessage
from llm.vllm_engine import (
    DeltaTracker,
    VLLMChunk,
    VLLMEngine,
    VLLMEngineConfig,
    VLLMRequest,
    VLLMUsage,
    build_sampling_params,
    chat_turns,
    render_prompt,
    sampling_kwargs,
)

# The chat template of the small model in /work/shared/gpu/make_tiny_model.py.
TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
# Like Gemma's template: no system role.
NO_SYSTEM_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "<{{ m['role'] }}>{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}<model>{% endif %}"
)


class FakeChatTokenizer:
    """Renders a Jinja chat template as Hugging Face tokenizers do; one token id per character."""

    def __init__(self, template: str = TEMPLATE) -> None:
        environment = jinja2.Environment()
        environment.globals["raise_exception"] = self._raise
        self._template = environment.from_string(template)
        self.encode_calls: list[dict[str, Any]] = []

    @staticmethod
    def _raise(message: str) -> None:
        raise jinja2.TemplateError(message)

    def apply_chat_template(self, conversation: list[dict[str, str]], *, tokenize: bool, add_generation_prompt: bool) -> str:
        assert tokenize is False
        return self._template.render(messages=conversation, add_generation_prompt=add_generation_prompt)

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        self.encode_calls.append({"text": text, "add_special_tokens": add_special_tokens})
        return [ord(character) for character in text]


@dataclass
class FakeCompletionOutput:
    text: str
    token_ids: list[int]
    finish_reason: str | None = None


@dataclass
class FakeRequestOutput:
    request_id: str
    prompt_token_ids: list[int] | None
    outputs: list[FakeCompletionOutput]
    finished: bool


def cumulative_outputs(pieces: list[str], finish_reason: str = "stop", prompt_ids: list[int] | None = None) -> list[FakeRequestOutput]:
    """What vLLM yields for a reply made of ``pieces``, one token each: the text so far, every time."""
    outputs = []
    for count in range(1, len(pieces) + 1):
        last = count == len(pieces)
        completion = FakeCompletionOutput("".join(pieces[:count]), list(range(count)), finish_reason if last else None)
        outputs.append(FakeRequestOutput("r", prompt_ids, [completion], finished=last))
    return outputs


@dataclass
class FakeModelConfig:
    max_model_len: int = 4096
    generation_defaults: dict[str, Any] = field(default_factory=dict)

    def get_diff_sampling_param(self) -> dict[str, Any]:
        return self.generation_defaults


class EngineDeadError(RuntimeError):
    """Same class name as vLLM's (``vllm.v1.engine.exceptions``), which the engine matches by name."""


class FakeAsyncEngine:
    """vLLM's ``AsyncLLM`` surface: ``generate`` yields cumulative outputs of a scripted reply; records calls and aborts."""

    def __init__(self, pieces: list[str], *, model_config: FakeModelConfig | None = None, tokenizer: Any = None,
                 fail_after: int | None = None, error: Exception | None = None, hang_after: int | None = None,
                 finish_reason: str = "stop", end_unfinished: bool = False) -> None:
        self.pieces = pieces
        self.model_config = model_config or FakeModelConfig()
        self.tokenizer = tokenizer or FakeChatTokenizer()
        self.fail_after, self.error, self.hang_after = fail_after, error, hang_after
        self.finish_reason, self.end_unfinished = finish_reason, end_unfinished
        self.calls: list[dict[str, Any]] = []
        self.aborted: list[str] = []
        self.closed_generators = 0
        self.healthy = True
        self.shut_down = False

    def get_tokenizer(self) -> FakeChatTokenizer:
        return self.tokenizer

    async def generate(self, prompt: dict[str, Any], sampling_params: Any, request_id: str) -> AsyncIterator[FakeRequestOutput]:
        self.calls.append({"prompt": prompt, "params": sampling_params, "request_id": request_id})
        outputs = cumulative_outputs(self.pieces, self.finish_reason, prompt["prompt_token_ids"])
        if self.end_unfinished:
            outputs = outputs[:-1]
        try:
            for index, output in enumerate(outputs):
                if index == self.fail_after:
                    raise self.error or RuntimeError("boom")
                if index == self.hang_after:
                    await asyncio.Event().wait()
                yield output
        finally:
            self.closed_generators += 1

    async def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)

    async def check_health(self) -> None:
        if not self.healthy:
            raise EngineDeadError("engine core died")

    def shutdown(self) -> None:
        self.shut_down = True


def record_sampling_params(kwargs: dict[str, Any], json_schema: dict[str, Any] | None) -> dict[str, Any]:
    """Stands in for ``build_sampling_params``: what would have gone into vLLM's ``SamplingParams``."""
    return {"kwargs": kwargs, "json_schema": json_schema}


CONFIG = VLLMEngineConfig(model="Qwen/Qwen2.5-7B-Instruct", served_name="qwen-local", default_max_tokens=256)


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def request(**fields: Any) -> VLLMRequest:
    return VLLMRequest(**{"model": CONFIG.model, "messages": [user("你好")], **fields})


async def started(fake: FakeAsyncEngine) -> VLLMEngine:
    engine = VLLMEngine(CONFIG, engine_factory=lambda config: fake, sampling_params_factory=record_sampling_params)
    await engine.start()
    return engine


async def drain(stream: AsyncIterator[VLLMChunk]) -> list[VLLMChunk]:
    return [chunk async for chunk in stream]


# --- chat template ---------------------------------------------------------------------------------------------


def test_system_text_becomes_one_leading_turn() -> None:
    messages = [user("hi"), ChatMessage(role="assistant", content="hello"), ChatMessage(role="system", content="be brief"),
                user("price?")]
    assert chat_turns(messages, system="You are Mia.") == [
        {"role": "system", "content": "You are Mia.\n\nbe brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "price?"},
    ]


def test_prompt_comes_from_the_models_chat_template_without_extra_special_tokens() -> None:
    tokenizer = FakeChatTokenizer()
    ids = render_prompt(tokenizer, chat_turns([user("水光针多少钱")], system="You are Mia."))
    assert "".join(map(chr, ids)) == "<|system|>You are Mia.<|user|>水光针多少钱<|assistant|>"
    assert tokenizer.encode_calls[-1]["add_special_tokens"] is False


def test_template_without_system_role_gets_the_system_text_in_the_first_user_turn() -> None:
    turns = chat_turns([ChatMessage(role="assistant", content="欢迎"), user("hi")], system="Be brief.")
    ids = render_prompt(FakeChatTokenizer(NO_SYSTEM_TEMPLATE), turns)
    assert "".join(map(chr, ids)) == "<assistant>欢迎<user>Be brief.\n\nhi<model>"


def test_template_error_without_a_system_turn_is_a_rejected_request() -> None:
    broken = FakeChatTokenizer("{{ raise_exception('Conversation roles must alternate') }}")
    with pytest.raises(ProviderRejected, match="roles must alternate") as caught:
        render_prompt(broken, chat_turns([user("hi")]))
    assert caught.value.retryable is False


# --- sampling settings -----------------------------------------------------------------------------------------


def test_request_settings_override_the_models_generation_defaults() -> None:
    kwargs = sampling_kwargs(
        request(temperature=0.0, top_p=0.9, stop=["\n\n"], seed=7),
        prompt_tokens=10,
        default_max_tokens=256,
        model_defaults={"temperature": 0.7, "top_k": 20, "max_tokens": 8192},
    )
    assert kwargs == {"temperature": 0.0, "top_k": 20, "top_p": 0.9, "stop": ["\n\n"], "seed": 7, "max_tokens": 256}


def test_max_tokens_is_capped_to_the_rest_of_the_context_window() -> None:
    assert sampling_kwargs(request(max_tokens=500), 3900, default_max_tokens=256, max_model_len=4096)["max_tokens"] == 196
    assert sampling_kwargs(request(), 100, default_max_tokens=256, max_model_len=4096)["max_tokens"] == 256


def test_prompt_that_fills_the_context_window_is_rejected() -> None:
    with pytest.raises(ProviderRejected, match="4096-token context") as caught:
        sampling_kwargs(request(), 4096, default_max_tokens=256, max_model_len=4096)
    assert caught.value.status == 400


@dataclass
class FakeParams:
    """Records its keyword arguments, as a stand-in for one of vLLM's parameter classes."""

    kwargs: dict[str, Any]


def fake_vllm_modules(monkeypatch: pytest.MonkeyPatch, structured_class_name: str) -> None:
    """Puts a ``vllm`` package in sys.modules with ``SamplingParams`` and one generation's structured-output class."""
    package, sampling = types.ModuleType("vllm"), types.ModuleType("vllm.sampling_params")
    package.SamplingParams = lambda **kwargs: FakeParams(kwargs)
    setattr(sampling, structured_class_name, lambda **kwargs: FakeParams(kwargs))
    monkeypatch.setitem(sys.modules, "vllm", package)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)


@pytest.mark.parametrize(("class_name", "keyword"), [("StructuredOutputsParams", "structured_outputs"),
                                                     ("GuidedDecodingParams", "guided_decoding")])
def test_json_schema_becomes_structured_decoding_in_either_vllm_generation(
    monkeypatch: pytest.MonkeyPatch, class_name: str, keyword: str
) -> None:
    fake_vllm_modules(monkeypatch, class_name)
    schema = {"type": "object", "properties": {"tags": {"type": "array"}}}
    params = build_sampling_params({"max_tokens": 64}, schema)
    assert params.kwargs == {"max_tokens": 64, keyword: FakeParams({"json": schema})}
    assert build_sampling_params({"max_tokens": 64}, None).kwargs == {"max_tokens": 64}


# --- cumulative outputs to deltas ------------------------------------------------------------------------------


def test_cumulative_outputs_become_deltas_with_usage_on_the_last_chunk() -> None:
    tracker = DeltaTracker(prompt_tokens=99)
    chunks = [tracker.feed(output) for output in cumulative_outputs(["您好", "", "，欢迎", "光临"], prompt_ids=[1, 2, 3])]
    assert chunks == [
        VLLMChunk(delta="您好"),
        None,  # a token that adds no text (a special token) sends nothing
        VLLMChunk(delta="，欢迎"),
        VLLMChunk(delta="光临", finish_reason="stop", usage=VLLMUsage(prompt_tokens=3, completion_tokens=4)),
    ]
    assert tracker.finished


def test_usage_falls_back_to_the_rendered_prompt_length() -> None:
    last = DeltaTracker(prompt_tokens=42).feed(cumulative_outputs(["ok"], finish_reason="length")[0])
    assert last == VLLMChunk(delta="ok", finish_reason="length", usage=VLLMUsage(prompt_tokens=42, completion_tokens=1))


def test_request_aborted_inside_vllm_is_a_retryable_error() -> None:
    tracker = DeltaTracker(prompt_tokens=1)
    with pytest.raises(ProviderServerError, match="'abort'") as caught:
        tracker.feed(cumulative_outputs(["x"], finish_reason="abort")[0])
    assert caught.value.retryable


# --- the engine ------------------------------------------------------------------------------------------------


async def test_generate_streams_the_reply_from_the_templated_prompt() -> None:
    fake = FakeAsyncEngine(["您好", "！", "水光针", "是..."],
                           model_config=FakeModelConfig(generation_defaults={"temperature": 0.7, "top_p": 0.8}))
    engine = await started(fake)
    schema = {"type": "object"}
    chunks = await drain(engine.generate(request(system="You are Mia.", temperature=0.2, json_schema=schema)))

    assert "".join(chunk.delta for chunk in chunks) == "您好！水光针是..."
    assert chunks[-1].finish_reason == "stop"
    prompt_ids = fake.calls[0]["prompt"]["prompt_token_ids"]
    assert "".join(map(chr, prompt_ids)) == "<|system|>You are Mia.<|user|>你好<|assistant|>"
    assert chunks[-1].usage == VLLMUsage(prompt_tokens=len(prompt_ids), completion_tokens=4)
    assert fake.calls[0]["params"] == {"kwargs": {"temperature": 0.2, "top_p": 0.8, "max_tokens": 256}, "json_schema": schema}
    assert fake.aborted == []


async def test_tokenizer_from_an_async_get_tokenizer_as_in_vllm_0_10() -> None:
    fake = FakeAsyncEngine(["ok"])

    async def get_tokenizer() -> FakeChatTokenizer:
        return fake.tokenizer

    fake.get_tokenizer = get_tokenizer  # type: ignore[method-assign]
    chunks = await drain((await started(fake)).generate(request()))
    assert [chunk.delta for chunk in chunks] == ["ok"]


async def test_every_request_gets_its_own_vllm_request_id() -> None:
    fake = FakeAsyncEngine(["a"])
    engine = await started(fake)
    await asyncio.gather(drain(engine.generate(request())), drain(engine.generate(request())))
    assert len({call["request_id"] for call in fake.calls}) == 2


async def test_consumer_closing_the_stream_early_aborts_the_vllm_request() -> None:
    fake = FakeAsyncEngine(["一", "二", "三", "四"])
    engine = await started(fake)
    stream = engine.generate(request())
    assert (await anext(stream)).delta == "一"
    await stream.aclose()
    assert fake.aborted == [fake.calls[0]["request_id"]]
    assert fake.closed_generators == 1


async def test_cancelled_consumer_aborts_the_vllm_request() -> None:
    fake = FakeAsyncEngine(["一", "二", "三"], hang_after=1)
    engine = await started(fake)
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in engine.generate(request()):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), timeout=1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fake.aborted == [fake.calls[0]["request_id"]]


@pytest.mark.parametrize(("error", "expected", "retryable"), [
    (EngineDeadError("EngineCore encountered an issue"), ProviderServerError, True),
    (ValueError("The decoder prompt (length 9000) is longer than the maximum model length of 4096"), ProviderRejected, False),
])
async def test_engine_errors_become_provider_errors_and_abort(error: Exception, expected: type, retryable: bool) -> None:
    fake = FakeAsyncEngine(["一", "二"], fail_after=1, error=error)
    engine = await started(fake)
    stream = engine.generate(request())
    assert (await anext(stream)).delta == "一"
    with pytest.raises(expected) as caught:
        await anext(stream)
    assert caught.value.retryable is retryable
    assert caught.value.__cause__ is error
    assert fake.aborted == [fake.calls[0]["request_id"]]


async def test_stream_that_ends_before_the_request_finished_is_an_error() -> None:
    fake = FakeAsyncEngine(["一", "二"], end_unfinished=True)
    with pytest.raises(ProviderServerError, match="ended before"):
        await drain((await started(fake)).generate(request()))


async def test_invalid_sampling_values_are_rejected() -> None:
    def strict_sampling_params(kwargs: dict[str, Any], json_schema: dict[str, Any] | None) -> Any:
        raise ValueError("temperature must be non-negative, got -1.0.")

    engine = VLLMEngine(CONFIG, engine_factory=lambda config: FakeAsyncEngine(["x"]),
                        sampling_params_factory=strict_sampling_params)
    await engine.start()
    with pytest.raises(ProviderRejected, match="non-negative"):
        await drain(engine.generate(request(temperature=-1.0)))


async def test_request_for_another_model_is_rejected() -> None:
    engine = await started(FakeAsyncEngine(["x"]))
    with pytest.raises(ProviderRejected, match="runs qwen-local") as caught:
        await drain(engine.generate(request(model="llama-3-8b")))
    assert caught.value.status == 404


async def test_engine_not_started_health_and_shutdown() -> None:
    fake = FakeAsyncEngine(["x"])
    engine = VLLMEngine(CONFIG, engine_factory=lambda config: fake, sampling_params_factory=record_sampling_params)
    with pytest.raises(ProviderServerError, match="not running"):
        await drain(engine.generate(request()))
    await engine.start()
    await engine.check_health()
    fake.healthy = False
    with pytest.raises(EngineDeadError):
        await engine.check_health()
    engine.shutdown()
    assert fake.shut_down
    with pytest.raises(ProviderServerError, match="not running"):
        await engine.check_health()


# --- configuration from models.yaml ----------------------------------------------------------------------------


CATALOG = {
    "defaults": {"alias": "chat-default"},
    "providers": [{"name": "gpu", "type": "vllm"}, {"name": "local", "type": "offline"}],
    "models": [
        {"name": "qwen-local", "provider": "gpu", "model": "Qwen/Qwen2.5-7B-Instruct", "context_window": 32768,
         "engine_args": {"max_model_len": 8192, "gpu_memory_utilization": 0.85}, "options": {"default_max_tokens": 512}},
        {"name": "tiny", "provider": "gpu", "context_window": 2048},
        {"name": "offline", "provider": "local", "context_window": 8192},
    ],
    "aliases": [{"name": "chat-default", "fallback": ["qwen-local", "offline"]}],
}


def test_engine_config_comes_from_the_models_entry_in_the_catalog() -> None:
    catalog = parse_catalog(CATALOG)
    assert catalog.vllm_engine_config("qwen-local") == VLLMEngineConfig(
        model="Qwen/Qwen2.5-7B-Instruct", served_name="qwen-local",
        engine_args={"max_model_len": 8192, "gpu_memory_utilization": 0.85}, default_max_tokens=512,
    )
    assert catalog.vllm_engine_config("tiny").model == "tiny"
    with pytest.raises(ValueError, match="not served by a vllm provider"):
        catalog.vllm_engine_config("offline")
    with pytest.raises(ValueError, match="no model 'missing'"):
        catalog.vllm_engine_config("missing")
