"""Agent graph: a full customer turn (``runs/wait``) on Ray Serve vs the same graph in-process, at the same load.

Two targets, up at the same time, each on a data dir of its own (its own SQLite and Milvus Lite files, which
one process may own at a time):

- ``serve``: ``mas start``: HTTP proxy -> ``Ingress`` -> ``Workflow`` -> the agent deployments (``Compliance``,
  ``Sentiment``, ``Intent``, ``Memory``, ``Product``, ``Sales``) -> ``LLMRouter`` (``deployments/app.py``);
- ``in-process``: the same FastAPI app in one uvicorn process, the graph run with local agents
  (``runtime.backends.Backends.local``): the baseline.

A token of Serve's dev key works on both (they share the JWT secret). Each target gets the bench tenant, a
20-product catalog (``tests/memory/data/catalog.json``) and one assistant per scenario with an active prompt.
Scenarios: the offline provider (an assistant without a model) at c=1 and c=32; a simulated LLM of about 1 s
(``model: simulated``: TTFT 1 s, then 20 tokens at 1000/s, knobs in the ``MAS_SIMULATED_*`` environment of
both targets) at c=64. Per-tenant LLM limits are lifted (a catalog copy via ``MAS_MODELS_CONFIG``, as in
``llm_stream.py``): the default 600 requests/minute would refuse the load.

Load: c clients, each on a thread of its own (a thread runs one turn at a time), send
``POST /v1/threads/{id}/runs/wait`` back to back for ``--duration`` seconds. A client plays five-turn
consultations (needs, price, allergy, budget, booking), opening a new thread for each (not in the latency,
inside the wall time). Each measurement starts on fresh threads with one untimed turn per client (warm-up);
runs/s = runs sent before the deadline / time until the last reply. Measurements alternate which target goes
first; runs/s are medians over rounds, latency percentiles and the per-agent p50 (``latency_ms`` of each run
result's ``agents``) pool all runs of all rounds. The load generator shares the machine with both targets.

    .venv/bin/python bench/graph.py [--duration 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from llm_stream import TENANT, _catalog_without_limits, _percentile, _print_log_notes, _raylets, _token, warn_leaked_raylets
from side_by_side import REPO, side_by_side


@dataclass(frozen=True)
class Scenario:
    model: str | None  # the assistant's model; None: the default alias, which falls back to the offline provider (the Sales agent then writes offline)
    concurrency: tuple[int, ...]


SCENARIOS = {"offline": Scenario(None, (1, 32)), "simulated 1 s": Scenario("simulated", (64,))}
SIMULATED_ENV = {"MAS_SIMULATED_TTFT_MS": "1000", "MAS_SIMULATED_OUTPUT_TOKENS": "20", "MAS_SIMULATED_TOKENS_PER_S": "1000"}
TARGETS = ("in-process", "serve")
STEPS = {"compliance": "compliance (input screen)", "sentiment": "sentiment", "intent": "intent", "memory": "memory (recall)",
         "products": "products", "sales": "sales (LLM + output checks)"}
CATALOG = REPO / "tests" / "memory" / "data" / "catalog.json"
CONVERSATION = (
    "你好，我最近皮肤特别干，脸上还有点暗沉，有什么补水的项目推荐吗？",
    "水光针大概多少钱？做一次效果能维持多久？",
    "我对玻尿酸有点过敏，这种情况还能做吗？",
    "预算五千以内，还想顺便改善一下法令纹，有合适的方案吗？",
    "那我周六下午两点过来面诊可以吗？我叫李娜，电话13812345678",
)
ASSISTANT = {"assistant_name": "小雅", "personality": "温柔耐心，专业可靠", "occupation": "皮肤管理顾问", "industry": "医美",
             "address": "上海市静安区南京西路1号"}
PROMPT = {"personality_prompt": "你是{assistant_name}，一位{occupation}，回答专业、简洁、真诚。",
          "safety_guidelines": ["效果因人而异，需医生面诊评估"]}


# --- one turn ------------------------------------------------------------------------------------------------------


@dataclass
class Turn:
    """One run as the client saw it, with the server's own timings."""

    latency_s: float
    processing_s: float  # the run result's processing_time: graph and stored reply, without the HTTP hops
    step_ms: dict[str, float]  # latency_ms per agent step
    degraded: list[str]  # optional agents that timed out or failed (the run still answers)
    output_checks: int  # output compliance calls (a handle call each on Serve)


class RunFailed(Exception):
    """A turn that got no reply (an HTTP error) or only input compliance's safe reply: counted as an error."""


def _turn(latency_s: float, result: dict[str, Any]) -> Turn:
    if result["blocked"]:
        raise RunFailed("input compliance blocked the message")
    agents = result["agents"]
    steps = {"compliance": agents["compliance"]["input"], **{name: agents[name] for name in STEPS if name != "compliance"}}
    return Turn(latency_s, result["processing_time"], {name: step["latency_ms"] for name, step in steps.items()},
                [name for name, step in steps.items() if step["status"] != "ok"],
                agents["compliance"]["output"]["output"]["checks"])


class Customer:
    """One client: five-turn consultations, one after the other, each on a new thread.

    Each turn carries an ``Idempotency-Key``; with ``retry_for_s`` the customer sends a request again (same key) after
    a transport error or a 5xx, for that long, as a client should when the replica serving it dies: its turn is
    then answered once (``retries`` counts the requests sent again).
    """

    def __init__(self, http: httpx.AsyncClient, assistant_id: str, retry_for_s: float = 0.0) -> None:
        self._http = http
        self._assistant_id = assistant_id
        self._retry_for_s = retry_for_s
        self._turns = 0
        self._thread_id = ""
        self.retries = 0

    async def turn(self) -> Turn:
        step = self._turns % len(CONVERSATION)
        if step == 0:  # a thread created twice by a retry is an empty thread left behind, nothing more
            created = await self._post("/v1/threads", {"assistant_id": self._assistant_id, "nickname": "Lina"}, {})
            self._thread_id = _body(created)["thread_id"]
        self._turns += 1
        body = {"assistant_id": self._assistant_id, "input": [{"role": "user", "content": CONVERSATION[step]}]}
        started = time.perf_counter()
        response = await self._post(f"/v1/threads/{self._thread_id}/runs/wait", body, {"Idempotency-Key": str(uuid.uuid4())})
        return _turn(time.perf_counter() - started, _body(response))

    async def _post(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        response, resent = await post_resending(self._http, url, body, headers, self._retry_for_s)
        self.retries += resent
        return response


async def post_resending(http: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str],
                         retry_for_s: float) -> tuple[httpx.Response, int]:
    """POST, sent again after a transport error or a 5xx for ``retry_for_s`` seconds; the answer and the resends."""
    deadline, delay, resent = time.perf_counter() + retry_for_s, 0.25, 0
    while True:
        try:
            response = await http.post(url, json=body, headers=headers)
            if response.status_code < 500 or time.perf_counter() + delay > deadline:
                return response, resent
        except httpx.TransportError:
            if time.perf_counter() + delay > deadline:
                raise
        resent += 1
        await asyncio.sleep(delay)
        delay = min(2 * delay, 2.0)


def _body(response: httpx.Response) -> Any:
    if response.is_error:
        try:
            code = response.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = response.text[:100]
        raise RunFailed(f"{response.status_code} {code}")
    return response.json()


# --- load ----------------------------------------------------------------------------------------------------------


@dataclass
class Load:
    """One measurement: every client's turns until the deadline."""

    elapsed_s: float
    turns: list[Turn]
    errors: list[str]

    @property
    def runs_per_s(self) -> float:
        return len(self.turns) / self.elapsed_s


async def _load(customers: list[Customer], duration_s: float) -> Load:
    """Each customer sends turns back to back while the deadline has not passed (at least one each)."""
    turns: list[Turn] = []
    errors: list[str] = []
    began = time.perf_counter()

    async def play(customer: Customer) -> None:
        while True:
            try:
                turns.append(await customer.turn())
            except (httpx.HTTPError, RunFailed) as exc:
                errors.append(str(exc) if isinstance(exc, RunFailed) else type(exc).__name__)
            if time.perf_counter() - began >= duration_s:
                return

    await asyncio.gather(*(play(customer) for customer in customers))
    return Load(time.perf_counter() - began, turns, errors)


Point = tuple[str, int]  # (scenario, c)


def _points(scenarios: list[str]) -> list[Point]:
    return [(name, c) for name in scenarios for c in SCENARIOS[name].concurrency]


async def _measure(urls: dict[str, str], token: str, args: argparse.Namespace) -> dict[tuple[Point, str], list[Load]]:
    headers = {"Authorization": f"Bearer {token}", "X-Tenant-ID": TENANT}
    assistants = {}
    for target, url in urls.items():
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as http:
            assistants[target] = await _prepare(http)
    results: dict[tuple[Point, str], list[Load]] = {}
    began = time.monotonic()
    for round_number in range(args.rounds):
        for index, (scenario, c) in enumerate(_points(args.scenarios)):
            order = TARGETS if (round_number + index) % 2 == 0 else TARGETS[::-1]
            for target in order:
                limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
                async with httpx.AsyncClient(base_url=urls[target], headers=headers, limits=limits, timeout=120) as http:
                    customers = [Customer(http, assistants[target][scenario]) for _ in range(c)]
                    await _load(customers, 0)  # warm-up: opens the connections and the threads
                    load = await _load(customers, args.duration)
                results.setdefault(((scenario, c), target), []).append(load)
                print(f"round {round_number + 1} {scenario} c={c} {target}: {load.runs_per_s:.1f} runs/s, "
                      f"{len(load.errors)} errors ({time.monotonic() - began:.0f} s)", file=sys.stderr)
                await asyncio.sleep(args.pause)  # lets the memory writes of the last turns finish
    return results


async def _prepare(http: httpx.AsyncClient) -> dict[str, str]:
    """The bench tenant, its catalog and one assistant with an active prompt per scenario; returns their ids."""
    _body(await http.post("/v1/tenants/sync", json={"tenant_id": TENANT, "tenant_name": "光彩医美"}))
    imported = _body(await http.post("/v1/products/import", json=json.loads(CATALOG.read_text())))
    if imported["failed"]:
        raise RuntimeError(f"catalog import failed: {imported['failed']}")
    assistants = {}
    for name, scenario in SCENARIOS.items():
        assistant_id = _body(await http.post("/v1/assistants", json={**ASSISTANT, "model": scenario.model}))["assistant_id"]
        _body(await http.post(f"/v1/prompts/{assistant_id}", json={"prompt_config": PROMPT}))
        assistants[name] = assistant_id
    return assistants


# --- report --------------------------------------------------------------------------------------------------------


def _ms(values: list[float], q: float) -> str:
    return f"{1000 * _percentile(values, q):.0f}"


def _report(results: dict[tuple[Point, str], list[Load]], args: argparse.Namespace) -> None:
    points = _points(args.scenarios)
    print("| scenario | c | in-process runs/s | Serve runs/s | **Serve / in-process** | in-process p50 / p95 / p99 ms "
          "| Serve p50 / p95 / p99 ms | runs: in-process, Serve | errors: in-process, Serve |")
    print("|---|---|---|---|---|---|---|---|---|")
    for point in points:
        loads = {target: results[(point, target)] for target in TARGETS}
        rate = {target: statistics.median(load.runs_per_s for load in runs) for target, runs in loads.items()}
        cells = []
        for target in TARGETS:
            latencies = [turn.latency_s for load in loads[target] for turn in load.turns]
            cells.append(" / ".join(_ms(latencies, q) for q in (0.5, 0.95, 0.99)))
        counts = [str(sum(len(load.turns) for load in loads[target])) for target in TARGETS]
        errors = [str(sum(len(load.errors) for load in loads[target])) for target in TARGETS]
        print(f"| {point[0]} | {point[1]} | {rate['in-process']:.1f} | {rate['serve']:.1f} | **{rate['serve'] / rate['in-process']:.2f}** "
              f"| {cells[0]} | {cells[1]} | {', '.join(counts)} | {', '.join(errors)} |")
    print(f"\nruns/s: medians of {args.rounds} alternating rounds of {args.duration:g} s per target and point; "
          "latency over all runs of all rounds")
    _report_steps(results, points)
    _report_anomalies(results, points)


def _report_steps(results: dict[tuple[Point, str], list[Load]], points: list[Point]) -> None:
    """Where the time goes: p50 of each agent step, of the server's processing time and of the client's latency."""
    header = " | ".join(f"{scenario} c={c}: in-process | Serve" for scenario, c in points)
    print(f"\n| p50 ms | {header} |")
    print("|---|" + "---|" * 2 * len(points))
    columns = [[turn for load in results[(point, target)] for turn in load.turns] for point in points for target in TARGETS]
    rows = {label: lambda t, step=step: t.step_ms[step] / 1000 for step, label in STEPS.items()}
    rows["graph + stored reply (processing_time)"] = lambda t: t.processing_s
    rows["client (runs/wait)"] = lambda t: t.latency_s
    for name, value in rows.items():
        print(f"| {name} | " + " | ".join(_ms([value(turn) for turn in turns], 0.5) for turns in columns) + " |")
    checks = " | ".join(f"{statistics.mean(turn.output_checks for turn in turns):.1f}" for turns in columns)
    print(f"| output compliance calls (mean) | {checks} |")


def _report_anomalies(results: dict[tuple[Point, str], list[Load]], points: list[Point]) -> None:
    for point in points:
        for target in TARGETS:
            loads = results[(point, target)]
            errors = Counter(error for load in loads for error in load.errors)
            degraded = Counter(name for load in loads for turn in load.turns for name in turn.degraded)
            if errors or degraded:
                print(f"{point[0]} c={point[1]} {target}: errors {dict(errors)}, degraded steps {dict(degraded)}")


def _print_failed_memory_writes(log: Path) -> None:
    """Memory writes run after the reply, in the background: a failed one fails no run, so only the log shows it."""
    lines = log.read_text(errors="replace").splitlines()
    failed = Counter("serve" if "ServeReplica" in line else "in-process" for line in lines if "memory write after run" in line)
    if failed:
        print(f"memory writes failed after a run (reply sent, memory lost): {dict(failed)}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20, help="seconds of load per target, point and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pause", type=float, default=3, help="seconds between measurements")
    parser.add_argument("--scenarios", type=lambda text: text.split(","), default=list(SCENARIOS))
    parser.add_argument("--proxy", choices=["serve", "haproxy"], default="serve", help="passed to mas start")
    args = parser.parse_args()

    raylets_before = _raylets()
    scratch = Path(tempfile.mkdtemp(prefix="mas-bench-catalog-"))
    began = time.monotonic()
    try:
        env = {"MAS_MODELS_CONFIG": str(_catalog_without_limits(scratch)), **SIMULATED_ENV}
        with side_by_side(args.proxy, env, own_baseline_dir=True) as (urls, data_dir):
            try:
                print(f"services up after {time.monotonic() - began:.0f} s", file=sys.stderr)
                targets = {"in-process": urls["uvicorn"], "serve": urls["serve"]}
                results = asyncio.run(_measure(targets, _token(urls["serve"], data_dir), args))
            finally:
                _print_log_notes(data_dir / "processes.log")
                _print_failed_memory_writes(data_dir / "processes.log")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        warn_leaked_raylets(raylets_before)
    print(f"Serve proxy: {args.proxy}; total {time.monotonic() - began:.0f} s")
    _report(results, args)


if __name__ == "__main__":
    main()
