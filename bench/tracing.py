"""Langfuse tracing's cost to a turn: ``runs/wait`` p50/p95 and CPU per turn with tracing off, on (exporting to a
local OTLP/HTTP endpoint that accepts every batch), and pointed at a dead host (a closed port), side by side.

Each configuration is the in-process app (one process: the API, the graph with local agents, the offline LLM) on a
data dir of its own. Rounds alternate the order of the configurations; each measures ``--turns`` turns back to back
on fresh threads after a warm-up. CPU is this process's (``time.process_time``: every thread, so the SDK's export
thread counts too).

    .venv/bin/python bench/tracing.py [--turns 150] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.app import create_app  # noqa: E402
from api.scopes import ALL_SCOPES, PLATFORM_TENANT  # noqa: E402
from runtime.settings import Settings  # noqa: E402

TEXTS = ("我想补水，皮肤干燥", "热玛吉多少钱？", "明天下午3点可以来吗？我叫王芳，电话13912345678", "做完会不会有副作用")


class _Accept(BaseHTTPRequestHandler):
    received = 0

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Accept.received += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _langfuse(url: str) -> dict[str, object]:
    return {"langfuse_public_key": f"pk-lf-bench-{uuid.uuid4().hex[:8]}", "langfuse_secret_key": "sk-lf-bench",
            "langfuse_base_url": url}


async def _measure(settings: Settings, turns: int) -> tuple[list[float], float]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        services = app.state.services
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mas.bench", timeout=60) as http:
            issued = await services.app_keys.create("bench", PLATFORM_TENANT, list(ALL_SCOPES))
            token = (await http.post("/v1/auth/token", headers={"X-App-Key": issued.key})).json()["access_token"]
            admin = {"Authorization": f"Bearer {token}"}
            await http.post("/v1/tenants/sync", headers=admin, json={"tenant_id": "bench", "tenant_name": "光彩医美"})
            tenant = {**admin, "X-Tenant-ID": "bench"}
            assistant = (await http.post("/v1/assistants", headers=tenant, json={
                "assistant_name": "小雅", "personality": "耐心", "occupation": "顾问", "industry": "医美"})).json()["assistant_id"]

            async def turn(thread_id: str, text: str) -> float:
                started = time.perf_counter()
                response = await http.post(f"/v1/threads/{thread_id}/runs/wait", headers=tenant,
                                           json={"assistant_id": assistant, "input": [{"role": "user", "content": text}]})
                assert response.status_code == 200, response.text
                return (time.perf_counter() - started) * 1000

            async def thread() -> str:
                return (await http.post("/v1/threads", headers=tenant, json={"assistant_id": assistant})).json()["thread_id"]

            for index in range(5):  # warm-up
                await turn(await thread(), TEXTS[index % len(TEXTS)])
            latencies, cpu_started, thread_id = [], time.process_time(), ""
            for index in range(turns):
                if index % len(TEXTS) == 0:  # a consultation of len(TEXTS) turns per thread
                    thread_id = await thread()
                latencies.append(await turn(thread_id, TEXTS[index % len(TEXTS)]))
            cpu_ms = (time.process_time() - cpu_started) * 1000 / turns
    return latencies, cpu_ms


async def main(turns: int, rounds: int) -> None:
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Accept)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    configs = {
        "off": {},
        "on (local endpoint)": _langfuse(f"http://127.0.0.1:{sink.server_address[1]}"),
        "dead host": _langfuse(f"http://127.0.0.1:{_closed_port()}"),
    }
    results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in configs}
    with tempfile.TemporaryDirectory() as scratch:
        for round_index in range(rounds):
            order = list(configs)[round_index % 3:] + list(configs)[: round_index % 3]
            for name in order:
                data_dir = Path(scratch) / f"{round_index}-{order.index(name)}"
                settings = Settings(data_dir=data_dir, jwt_secret="bench-" + "x" * 58, **configs[name])
                latencies, cpu_ms = await _measure(settings, turns)
                results[name][0].extend(latencies)
                results[name][1].append(cpu_ms)
                print(f"round {round_index + 1} {name}: p50 {statistics.median(latencies):.1f} ms, CPU {cpu_ms:.1f} ms/turn",
                      flush=True)
    sink.shutdown()
    base_p50 = statistics.median(results["off"][0])
    base_cpu = statistics.median(results["off"][1])
    print(f"\n{'tracing':<22}{'p50 ms':>9}{'p95 ms':>9}{'p50 / off':>11}{'CPU ms/turn':>13}{'CPU / off':>11}")
    for name, (latencies, cpus) in results.items():
        p50, p95 = statistics.median(latencies), statistics.quantiles(latencies, n=20)[-1]
        cpu = statistics.median(cpus)
        print(f"{name:<22}{p50:>9.1f}{p95:>9.1f}{p50 / base_p50:>11.2f}{cpu:>13.1f}{cpu / base_cpu:>11.2f}")
    print(f"\nexport requests received by the local endpoint: {_Accept.received}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.turns, arguments.rounds))
