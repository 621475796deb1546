"""LLM streaming: output tokens/s through the router and through Ray Serve vs the engine alone, at the same load.

The ``simulated`` provider stands in for the engine (vLLM or an API): a set
time to first token, then one token per 1/tokens_per_s. Four paths, at the
same concurrency, rounds alternating between them so noise hits all alike:

- ``bare``: the simulated provider's ``stream()`` called directly (the engine alone);
- ``router``: ``Router.stream()`` in this process (routing, timeouts, accounting);
- ``uvicorn``: ``POST /v1/chat/completions`` (SSE) on the FastAPI app in one
  uvicorn process, router in-process;
- ``serve``: the same request through ``mas start``: HTTP proxy -> Ingress ->
  handle (stream=True) -> LLMRouter, streamed back chunk by chunk.

Tokens counted: the reply's usage (``usage.completion_tokens`` of the final
SSE chunk, asked for with ``stream_options.include_usage``; the response's or
last chunk's usage in-process), checked against the number of content deltas
received. TTFT: from sending the request to the first non-empty content delta.
The HTTP client is httpx with SSE frames parsed from the raw body; tokens per
delta shows how far waiting deltas were merged on the way (``llm.coalesce``).

Each regime gets its own ``mas start`` and uvicorn, with its knobs in the
``MAS_SIMULATED_*`` environment (replicas inherit it) and a copy of the catalog
without per-tenant limits (``MAS_MODELS_CONFIG``), which the load would hit.

    .venv/bin/python bench/llm_stream.py [--rounds 3] [--concurrency 1,16,64] [--waves 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from side_by_side import REPO, side_by_side

from llm.catalog import load_catalog
from llm.providers.base import Provider, ProviderRequest
from llm.router import Router, build_providers
from llm.settings import LLMSettings
from llm.types import ChatMessage, LLMRequest

REGIMES = {  # simulated knobs
    "API-like": {"ttft_ms": 200, "tokens_per_s": 50, "output_tokens": 64},
    "engine-like": {"ttft_ms": 20, "tokens_per_s": 1000, "output_tokens": 256},
}
PATHS = ("bare", "router", "uvicorn", "serve")
ALIAS, MODEL, TENANT = "simulated", "simulated-chat", "bench"
PROMPT = "推荐一个补水项目"


@dataclass
class Stream:
    """One streamed reply as the client saw it."""

    ttft_s: float
    tokens: int  # reported usage: output / completion tokens
    deltas: int  # non-empty content deltas received (fewer than tokens when waiting deltas were merged)


StreamOnce = Callable[[int | None], Awaitable[Stream]]  # max_tokens -> one streamed reply


# --- the four paths ----------------------------------------------------------------------------------------------


def bare_path(catalog_path: Path, knobs: dict[str, float]) -> StreamOnce:
    """The simulated provider exactly as the router builds it, called without the router."""
    catalog = load_catalog(catalog_path)
    provider: Provider = build_providers(catalog, {}, {}, knobs)[0][ALIAS]
    options = catalog.model(MODEL).options

    async def once(max_tokens: int | None) -> Stream:
        request = ProviderRequest(model=MODEL, messages=[ChatMessage(role="user", content=PROMPT)], max_tokens=max_tokens, options=options)
        start, ttft, deltas, tokens = time.perf_counter(), 0.0, 0, 0
        async for chunk in provider.stream(request):
            if chunk.delta:
                deltas += 1
                ttft = ttft or time.perf_counter() - start
            if chunk.usage is not None:
                tokens = chunk.usage.output_tokens
        return Stream(ttft, tokens, deltas)

    return once


def router_path(catalog_path: Path, knobs: dict[str, float]) -> StreamOnce:
    settings = LLMSettings(models_config=catalog_path, **{f"simulated_{name}": value for name, value in knobs.items()})
    router = Router.from_settings(settings, environ={})

    async def once(max_tokens: int | None) -> Stream:
        request = LLMRequest(messages=[ChatMessage(role="user", content=PROMPT)], model=ALIAS, max_tokens=max_tokens, tenant_id=TENANT)
        start, ttft, deltas, tokens = time.perf_counter(), 0.0, 0, 0
        async for event in router.stream(request):
            if event.delta:
                deltas += 1
                ttft = ttft or time.perf_counter() - start
            if event.response is not None:
                tokens = event.response.usage.output_tokens
        return Stream(ttft, tokens, deltas)

    return once


def http_path(http: httpx.AsyncClient) -> StreamOnce:
    """``POST /v1/chat/completions`` with ``stream: true``; SSE frames parsed from the raw body."""

    async def once(max_tokens: int | None) -> Stream:
        body = {"model": ALIAS, "messages": [{"role": "user", "content": PROMPT}], "stream": True,
                "stream_options": {"include_usage": True}, **({"max_tokens": max_tokens} if max_tokens else {})}
        start, ttft, deltas, tokens, buffer = time.perf_counter(), 0.0, 0, 0, b""
        async with http.stream("POST", "/v1/chat/completions", json=body) as response:
            response.raise_for_status()
            async for raw in response.aiter_raw():
                *complete, buffer = (buffer + raw).split(b"\n\n")
                for frame in complete:
                    data = frame.removeprefix(b"data: ")
                    if data == b"[DONE]":
                        continue
                    chunk = json.loads(data)
                    if "error" in chunk:
                        raise RuntimeError(f"error frame: {chunk['error']}")
                    if chunk.get("usage"):
                        tokens = chunk["usage"]["completion_tokens"]
                    if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                        deltas += 1
                        ttft = ttft or time.perf_counter() - start
        return Stream(ttft, tokens, deltas)

    return once


# --- load ----------------------------------------------------------------------------------------------------------


@dataclass
class Load:
    """One measurement: n streams, c at a time."""

    elapsed_s: float
    streams: list[Stream]
    errors: list[str]

    @property
    def tokens_per_s(self) -> float:
        return sum(s.tokens for s in self.streams) / self.elapsed_s


async def _load(once: StreamOnce, n: int, c: int, max_tokens: int | None = None) -> Load:
    streams: list[Stream] = []
    errors: list[str] = []
    remaining = iter(range(n))

    async def worker() -> None:
        for _ in remaining:
            try:
                streams.append(await once(max_tokens))
            except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
                errors.append(f"{type(exc).__name__}: {exc}"[:200])

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(c)))
    return Load(time.perf_counter() - began, streams, errors)


async def _measure(targets: dict[str, str], token: str, catalog_path: Path, knobs: dict[str, float], args: argparse.Namespace) -> dict[tuple[str, int], list[Load]]:
    results: dict[tuple[str, int], list[Load]] = {}
    headers = {"Authorization": f"Bearer {token}", "X-Tenant-ID": TENANT}
    local = {"bare": bare_path(catalog_path, knobs), "router": router_path(catalog_path, knobs)}
    for round_number in range(args.rounds):
        for c in args.concurrency:
            paths = PATHS[round_number % len(PATHS):] + PATHS[:round_number % len(PATHS)]  # rotate who goes first
            for path in paths:
                if path in local:
                    load = await _warm_then_load(local[path], c, args.waves)
                else:
                    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
                    async with httpx.AsyncClient(base_url=targets[path], headers=headers, limits=limits, timeout=120) as http:
                        load = await _warm_then_load(http_path(http), c, args.waves)
                results.setdefault((path, c), []).append(load)
    return results


async def _warm_then_load(once: StreamOnce, c: int, waves: int) -> Load:
    await _load(once, c, c, max_tokens=1)  # warm-up: opens the c connections; 1-token replies, so it is short
    return await _load(once, max(4, waves * c), c)


# --- services ------------------------------------------------------------------------------------------------------


def _catalog_without_limits(directory: Path) -> Path:
    """configs/models.yaml with no per-tenant limits: the default 600 requests/minute would refuse the load."""
    config = yaml.safe_load((REPO / "configs" / "models.yaml").read_text())
    config["limits"] = {"default": {"requests_per_minute": None, "tokens_per_minute": None}, "tenants": {}}
    path = directory / "models.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    return path


@contextmanager
def _services(catalog_path: Path, knobs: dict[str, float], proxy: str) -> Iterator[tuple[dict[str, str], Path]]:
    """``mas start`` and the uvicorn baseline with the knobs in their environment; the Serve log's notes at the end."""
    env = {"MAS_MODELS_CONFIG": str(catalog_path), **{f"MAS_SIMULATED_{name.upper()}": str(value) for name, value in knobs.items()}}
    with side_by_side(proxy, env) as (targets, data_dir):
        try:
            yield targets, data_dir
        finally:
            _print_log_notes(data_dir / "processes.log")


def _print_log_notes(log: Path) -> None:
    """Autoscaling decisions and errors of the Serve run, which the numbers would hide."""
    lines = log.read_text(errors="replace").splitlines()
    for line in lines:
        if "scaling Deployment" in line:
            print(line, file=sys.stderr)
    if errors := sum(" ERROR " in line for line in lines):
        print(f"{errors} ERROR lines in the Serve/uvicorn log", file=sys.stderr)


def _token(api: str, data_dir: Path) -> str:
    """A token for the dev key, and the bench tenant synced (both servers share the data dir)."""
    key = (data_dir / "dev_app_key").read_text().strip()
    with httpx.Client(base_url=api, timeout=30) as http:
        token = http.post("/v1/auth/token", headers={"X-App-Key": key}).json()["access_token"]
        http.post("/v1/tenants/sync", headers={"Authorization": f"Bearer {token}"}, json={"tenant_id": TENANT, "tenant_name": TENANT}).raise_for_status()
    return token


def _raylets() -> set[str]:
    return set(subprocess.run(["pgrep", "-x", "raylet"], capture_output=True, text=True).stdout.split())


def warn_leaked_raylets(before: set[str]) -> None:
    """Says so when a raylet started by this benchmark outlived ``mas start``."""
    if leaked := _raylets() - before:
        print(f"raylet still running after mas start stopped: {leaked} (.venv/bin/ray stop --force)", file=sys.stderr)


# --- report --------------------------------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def _ideal(knobs: dict[str, float], c: int) -> float:
    """Aggregate tokens/s if nothing but the simulated engine's own timing counted."""
    n = knobs["output_tokens"]
    return c * n / (knobs["ttft_ms"] / 1000 + (n - 1) / knobs["tokens_per_s"])


def _report(results: dict[str, dict[tuple[str, int], list[Load]]], args: argparse.Namespace) -> None:
    print("| regime | c | ideal tok/s | bare tok/s | router tok/s | **router / bare** | uvicorn tok/s | Serve tok/s | **Serve / uvicorn** | Serve / bare |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for regime, loads in results.items():
        for c in args.concurrency:
            rate = {path: statistics.median(load.tokens_per_s for load in loads[(path, c)]) for path in PATHS}
            print(f"| {regime} | {c} | {_ideal(REGIMES[regime], c):.0f} | {rate['bare']:.0f} | {rate['router']:.0f} | **{rate['router'] / rate['bare']:.2f}** "
                  f"| {rate['uvicorn']:.0f} | {rate['serve']:.0f} | **{rate['serve'] / rate['uvicorn']:.2f}** | {rate['serve'] / rate['bare']:.2f} |")
    print("\n| regime | c | TTFT p50 / p99 ms: bare | router | uvicorn | Serve | tokens per SSE delta: uvicorn | Serve |")
    print("|---|---|---|---|---|---|---|---|")
    for regime, loads in results.items():
        for c in args.concurrency:
            cells = []
            for path in PATHS:
                ttfts = [1000 * s.ttft_s for load in loads[(path, c)] for s in load.streams]
                cells.append(f"{_percentile(ttfts, 0.5):.0f} / {_percentile(ttfts, 0.99):.0f}")
            merged = [_tokens_per_delta(loads[(path, c)]) for path in ("uvicorn", "serve")]
            print(f"| {regime} | {c} | {' | '.join(cells)} | {merged[0]:.1f} | {merged[1]:.1f} |")
    print(f"\ntok/s: medians of {args.rounds} alternating rounds of max(4, {args.waves} x c) streams; TTFT over all streams of all rounds")
    _report_anomalies(results)


def _tokens_per_delta(loads: list[Load]) -> float:
    """How many tokens each content delta carried on arrival: 1.0 unless waiting deltas were merged on the way."""
    streams = [s for load in loads for s in load.streams]
    return sum(s.tokens for s in streams) / sum(s.deltas for s in streams)


def _report_anomalies(results: dict[str, dict[tuple[str, int], list[Load]]]) -> None:
    for regime, loads in results.items():
        for (path, c), runs in sorted(loads.items()):
            errors = [error for load in runs for error in load.errors]
            mismatched = sum(s.deltas > s.tokens for load in runs for s in load.streams)
            short = sum(s.tokens != REGIMES[regime]["output_tokens"] for load in runs for s in load.streams)
            if errors or mismatched or short:
                print(f"{regime} {path} c={c}: {len(errors)} errors {sorted(set(errors))[:3]}, "
                      f"{mismatched} streams with more deltas than tokens, {short} with a token count other than requested")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=lambda text: [int(c) for c in text.split(",")], default=[1, 16, 64])
    parser.add_argument("--waves", type=int, default=2, help="streams per measurement = max(4, waves x concurrency)")
    parser.add_argument("--regimes", type=lambda text: text.split(","), default=list(REGIMES))
    parser.add_argument("--proxy", choices=["serve", "haproxy"], default="serve", help="passed to mas start")
    args = parser.parse_args()

    raylets_before = _raylets()
    scratch = Path(tempfile.mkdtemp(prefix="mas-bench-catalog-"))
    results: dict[str, dict[tuple[str, int], list[Load]]] = {}
    began = time.monotonic()
    try:
        catalog_path = _catalog_without_limits(scratch)
        for regime in args.regimes:
            knobs = REGIMES[regime]
            with _services(catalog_path, knobs, args.proxy) as (targets, data_dir):
                print(f"{regime} {knobs}: services up after {time.monotonic() - began:.0f} s", file=sys.stderr)
                results[regime] = asyncio.run(_measure(targets, _token(targets["serve"], data_dir), catalog_path, knobs, args))
            print(f"{regime}: done after {time.monotonic() - began:.0f} s", file=sys.stderr)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        warn_leaked_raylets(raylets_before)
    print(f"Serve proxy: {args.proxy}; total {time.monotonic() - began:.0f} s")
    _report(results, args)


if __name__ == "__main__":
    main()
