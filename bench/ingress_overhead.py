"""Ingress overhead: the API behind the Ray Serve proxy vs the same app in one uvicorn process.

Both run at once on the same data dir; rounds alternate between them so
machine noise hits both alike. Reports requests/s and latency percentiles per
endpoint and concurrency, and the Serve/baseline ratios.

    .venv/bin/python bench/ingress_overhead.py --requests 300 --rounds 3 [--proxy haproxy]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

import httpx
from side_by_side import side_by_side


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

    with side_by_side(args.proxy) as (targets, data_dir):
        results = asyncio.run(_measure(targets, data_dir, args))
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
