"""Embedders: the offline one is deterministic, unit-length and Chinese-aware; OpenAI goes through the real
SDK (against a local fake server); sentence-transformers fails clearly when it is not installed."""

from __future__ import annotations

import importlib.util
import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from memory.embeddings import EmbedderUnavailable, OfflineEmbedder, OpenAIEmbedder, open_embedder
from tests.memory.conftest import embedded_settings


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b))


async def test_offline_vectors_are_deterministic_unit_length_and_sized_by_settings(tmp_path: Path) -> None:
    embedder = await open_embedder(embedded_settings(tmp_path, offline_embedding_dims=256))
    first, blank = await embedder.embed(["我对酒精过敏", "？！"])
    assert embedder.dim == len(first) == 256 and embedder.name == "offline-hash-v1"
    assert first == (await OfflineEmbedder(256).embed(["我对酒精过敏"]))[0]
    assert math.isclose(math.sqrt(sum(x * x for x in first)), 1.0) and math.isclose(math.sqrt(sum(x * x for x in blank)), 1.0)


@pytest.mark.parametrize(
    ("text", "similar", "unrelated"),
    [
        ("我对酒精过敏", "过敏：对酒精过敏", "预算：5000元"),
        ("预算大概五千", "预算在五千以内", "我是油皮"),
        ("想做水光针补水", "水光针补水嫩肤疗程", "全切双眼皮手术"),
        ("retinol晚霜", "A醇晚霜 retinol", "防晒乳"),
    ],
)
async def test_offline_texts_sharing_chinese_words_are_closer_than_unrelated_ones(
    text: str, similar: str, unrelated: str
) -> None:
    query, near, far = await OfflineEmbedder().embed([text, similar, unrelated])
    assert cosine(query, near) > OfflineEmbedder.noise_floor > cosine(query, far)


async def test_many_texts_are_embedded_off_the_event_loop_in_order() -> None:
    embedder = OfflineEmbedder()
    texts = [f"第{i}条记忆：喜欢清爽质地" for i in range(100)]
    assert await embedder.embed(texts) == [embedder.embed_one(text) for text in texts]


class FakeOpenAIServer(ThreadingHTTPServer):
    """A local HTTP server speaking the OpenAI embeddings API: vectors derived from the text, returned
    in reverse order (the API only promises an ``index``), every request recorded."""

    def __init__(self, native_dims: int) -> None:
        self.requests: list[dict[str, Any]] = []
        self.native_dims = native_dims
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "auth": self.headers["Authorization"], **body})
                dims = body.get("dimensions", server.native_dims)
                data = [
                    {"object": "embedding", "index": i, "embedding": [float(len(text))] + [1.0] * (dims - 1)}
                    for i, text in enumerate(body["input"])
                ]
                payload = {
                    "object": "list",
                    "model": body["model"],
                    "data": data[::-1],
                    "usage": {"prompt_tokens": 1, "total_tokens": 1},
                }
                raw = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer(native_dims=5)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def openai_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MAS_TEST_EMBEDDING_KEY", "sk-test")
    return "MAS_TEST_EMBEDDING_KEY"


async def test_openai_embedder_batches_keeps_input_order_and_sends_configured_dimensions(
    tmp_path: Path, openai_server: FakeOpenAIServer, openai_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = embedded_settings(
        tmp_path,
        embedder="openai",
        openai_embedding_model="text-embedding-3-small",
        openai_embedding_dims=3,
        openai_embedding_api_key_env=openai_key,
        openai_embedding_base_url=openai_server.url,
    )
    embedder = await open_embedder(settings)
    monkeypatch.setattr(OpenAIEmbedder, "batch_size", 2)
    try:
        vectors = await embedder.embed(["一", "二二", "三三三"])
    finally:
        await embedder.close()  # type: ignore[attr-defined]
    assert embedder.name == "openai:text-embedding-3-small" and embedder.dim == 3
    assert [len(v) for v in vectors] == [3, 3, 3] and all(math.isclose(cosine(v, v), 1.0) for v in vectors)
    assert [round(v[0] / v[1]) for v in vectors] == [1, 2, 3]  # the reversed response was put back in order
    assert [r["input"] for r in openai_server.requests] == [["一", "二二"], ["三三三"]]
    assert {(r["path"], r["auth"], r["dimensions"], r["encoding_format"]) for r in openai_server.requests} == {
        ("/v1/embeddings", "Bearer sk-test", 3, "float")
    }


async def test_openai_compatible_model_of_unknown_size_is_probed_once(
    tmp_path: Path, openai_server: FakeOpenAIServer, openai_key: str
) -> None:
    settings = embedded_settings(
        tmp_path,
        embedder="openai",
        openai_embedding_model="bge-m3",
        openai_embedding_api_key_env=openai_key,
        openai_embedding_base_url=openai_server.url,
    )
    embedder = await open_embedder(settings)
    await embedder.close()  # type: ignore[attr-defined]
    assert embedder.dim == 5 and len(openai_server.requests) == 1 and "dimensions" not in openai_server.requests[0]


async def test_openai_embedder_without_a_key_says_which_variable_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAS_TEST_NO_SUCH_KEY", raising=False)
    with pytest.raises(EmbedderUnavailable, match=r"\$MAS_TEST_NO_SUCH_KEY"):
        await open_embedder(embedded_settings(tmp_path, embedder="openai", openai_embedding_api_key_env="MAS_TEST_NO_SUCH_KEY"))


SENTENCE_TRANSFORMERS = importlib.util.find_spec("sentence_transformers") is not None


@pytest.mark.skipif(SENTENCE_TRANSFORMERS, reason="sentence-transformers is installed")
async def test_sentence_transformers_missing_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbedderUnavailable, match=r"pip install 'mas\[sentence-transformers\]'"):
        await open_embedder(embedded_settings(tmp_path, embedder="sentence-transformers"))


@pytest.mark.skipif(not SENTENCE_TRANSFORMERS, reason="sentence-transformers is not installed (optional extra)")
async def test_sentence_transformers_model_embeds_unit_vectors(tmp_path: Path) -> None:
    import os

    model = os.environ.get("MAS_TEST_SENTENCE_TRANSFORMERS_MODEL")
    if not model:
        pytest.skip("MAS_TEST_SENTENCE_TRANSFORMERS_MODEL is not set (a local model path or a cached hub name)")
    embedder = await open_embedder(
        embedded_settings(tmp_path, embedder="sentence-transformers", sentence_transformers_model=model)
    )
    query, near, far = await embedder.embed(["我对酒精过敏", "对酒精过敏", "预算五千"])
    assert len(query) == embedder.dim and math.isclose(cosine(query, query), 1.0, rel_tol=1e-3)
    assert cosine(query, near) > cosine(query, far)
