"""Ingress overhead: the API behind the Ray Serve proxy vs the same app in one uvicorn process.

Both run at once on the same data dir; rounds alternate between them so
machine noise hits both alike. Reports requests/s and latency percentiles per
endpoint and concurrency, and the Serve/baseline ratios.

    .venv/bin/python bench/ingress_overhead.py --requests 300 --rounds 3 [--proxy haproxy]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from fastapi import FastAPI

from api.app import create_app
from deployments.launcher import wait_until_ready
from mas.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def app() -> FastAPI:
    """uvicorn --factory entry point: the API exactly as the Ingress replica builds it, minus Serve."""
    return create_app(Settings())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    def alive() -> None:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early")

    wait_until_ready(url, alive)


async def _load(url: str, method: str, path: str, headers: dict[str, str], body: dict | None, n: int, c: int) -> dict[str, float]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as http:

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                start = time.perf_counter()
                response = await http.request(method, path, json=body)
                latencies.append(time.perf_counter() - start)
                response.raise_for_status()

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(c)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rps": n / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,32")
    parser.add_argument("--proxy", choices=["serve", "haproxy"], default="serve", help="passed to mas start")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="mas-bench-"))
    env = {**os.environ, "MAS_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    env.pop("MAS_DATABASE_URL", None)
    serve_port, uvicorn_port = _free_port(), _free_port()
    log = open(data_dir / "processes.log", "wb")
    serve = subprocess.Popen(
        [sys.executable, "-m", "mas.cli", "start", "--port", str(serve_port), "--dashboard-port", str(_free_port()),
         "--proxy", args.proxy],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    targets = {"serve": f"http://127.0.0.1:{serve_port}", "uvicorn": f"http://127.0.0.1:{uvicorn_port}"}
    baseline = None
    try:
        _wait_ready(targets["serve"], serve)  # creates the schema, secret and dev key first
        baseline = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "ingress_overhead:app", "--factory", "--app-dir", str(REPO / "bench"),
             "--port", str(uvicorn_port), "--no-access-log", "--log-level", "warning"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        _wait_ready(targets["uvicorn"], baseline)
        results = asyncio.run(_measure(targets, data_dir, args))
    finally:
        for process in (baseline, serve):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGINT)
                process.wait(timeout=90)
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    _report(results, args)


async def _measure(targets: dict[str, str], data_dir: Path, args: argparse.Namespace) -> dict[tuple[str, str, int], list[dict[str, float]]]:
    key = (data_dir / "dev_app_key").read_text().strip()
    async with httpx.AsyncClient(base_url=targets["serve"]) as http:
        token = (await http.post("/v1/auth/token", headers={"X-App-Key": key})).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "X-Tenant-ID": "bench"}
        await http.post("/v1/tenants/sync", headers=headers, json={"tenant_id": "bench", "tenant_name": "bench"})
    endpoints = {
        "GET /v1/auth/verify (JWT only)": ("GET", "/v1/auth/verify", None),
        "GET /v1/threads/{id} (tenant check + 1 read)": None,
        "POST /v1/threads (tenant check + 1 write)": ("POST", "/v1/threads", {"nickname": "bench"}),
    }
    async with httpx.AsyncClient(base_url=targets["serve"], headers=headers) as http:
        thread_id = (await http.post("/v1/threads", json={})).json()["thread_id"]
    endpoints["GET /v1/threads/{id} (tenant check + 1 read)"] = ("GET", f"/v1/threads/{thread_id}", None)
    results: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    for _ in range(args.rounds):
        for name, (method, path, body) in endpoints.items():
            for c in map(int, args.concurrency.split(",")):
                for target, url in targets.items():  # alternate: both see the same noise
                    await _load(url, method, path, headers, body, min(50, args.requests), c)  # warm-up
                    results.setdefault((name, target, c), []).append(await _load(url, method, path, headers, body, args.requests, c))
    return results


def _report(results: dict[tuple[str, str, int], list[dict[str, float]]], args: argparse.Namespace) -> None:
    print(f"Serve proxy: {args.proxy}")
    print("| endpoint | c | uvicorn rps | Serve rps | Serve/uvicorn rps | uvicorn p50/p99 ms | Serve p50/p99 ms |")
    print("|---|---|---|---|---|---|---|")
    for name, _, c in sorted({(n, "", c) for n, _, c in results}, key=lambda k: (k[0], k[2])):
        base = {m: statistics.median(r[m] for r in results[(name, "uvicorn", c)]) for m in ("rps", "p50_ms", "p99_ms")}
        serve = {m: statistics.median(r[m] for r in results[(name, "serve", c)]) for m in ("rps", "p50_ms", "p99_ms")}
        print(
            f"| {name} | {c} | {base['rps']:.0f} | {serve['rps']:.0f} | {serve['rps'] / base['rps']:.2f} "
            f"| {base['p50_ms']:.1f} / {base['p99_ms']:.1f} | {serve['p50_ms']:.1f} / {serve['p99_ms']:.1f} |"
        )
    print(f"\nmedians of {args.rounds} alternating rounds of {args.requests} requests each")


if __name__ == "__main__":
    main()
