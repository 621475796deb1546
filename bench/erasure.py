"""What erasing a customer costs, against what one of their turns costs, measured in the same run: the in-process app
(embedded defaults: SQLite, FTS5, Milvus Lite, offline LLM) on a fresh data dir. Each of ``--threads`` threads gets
``--turns`` ``runs/wait`` turns (their memory writes settle), then each thread is erased with
``DELETE /v1/threads/{id}?erase=true``. CPU is user + system of this process and its children (the Milvus Lite
server) from ``/proc``; wall time is per call.

    .venv/bin/python bench/erasure.py [--threads 10] [--turns 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app  # noqa: E402
from api.scopes import TENANT_ADMIN, TENANT_CHAT  # noqa: E402
from runtime.settings import Settings  # noqa: E402

TICK_S = 1 / os.sysconf("SC_CLK_TCK")
SAID = ["我叫林小美，电话13812345678，想了解水光针", "我对青霉素过敏，皮肤偏干", "预算5000以内", "热玛吉多少钱？", "下周六下午能约吗？"]


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * TICK_S


def _tree_cpu_s() -> float:
    """This process and its live children (the Milvus Lite server)."""
    me = os.getpid()
    children = [int(pid) for pid in os.listdir("/proc") if pid.isdigit() and _parent(int(pid)) == me]
    return _cpu_s(me) + sum(_cpu_s(pid) for pid in children)


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, IndexError):
        return 0


async def run(threads: int, turns: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="mas-erasure-bench-"))
    settings = Settings(data_dir=data, database_url=f"sqlite+aiosqlite:///{data / 'mas.db'}")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        services = app.state.services
        await services.tenants.upsert("bench", {"tenant_name": "bench 医美"})
        key = (await services.app_keys.create("bench", "bench", [TENANT_ADMIN, TENANT_CHAT])).key
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mas.bench", timeout=120) as http:
            token = (await http.post("/v1/auth/token", headers={"X-App-Key": key})).json()["access_token"]
            http.headers["Authorization"] = f"Bearer {token}"
            assistant = (await http.post("/v1/assistants", json={"assistant_name": "小美", "personality": "耐心",
                                                                 "occupation": "顾问", "industry": "医美"})).json()["assistant_id"]
            await http.post(f"/v1/prompts/{assistant}", json={"prompt_config": {"personality_prompt": "你是{assistant_name}。"}})
            ids = [(await http.post("/v1/threads", json={"assistant_id": assistant, "phone": "13812345678"})).json()["thread_id"]
                   for _ in range(threads)]
            await http.post(f"/v1/threads/{ids[0]}/runs/wait", json={"assistant_id": assistant,  # warm-up: opens the stores
                                                                      "input": [{"role": "user", "content": "你好"}]})
            await services.executor.drain()
            cpu, started = _tree_cpu_s(), time.perf_counter()
            for turn in range(turns):
                for thread_id in ids:
                    response = await http.post(f"/v1/threads/{thread_id}/runs/wait", json={
                        "assistant_id": assistant, "input": [{"role": "user", "content": SAID[turn % len(SAID)]}]})
                    assert response.status_code == 200, response.text
            await services.executor.drain()
            turn_cpu, turn_wall = (_tree_cpu_s() - cpu) / (threads * turns), (time.perf_counter() - started) / (threads * turns)

            walls, receipts, cpu = [], [], _tree_cpu_s()
            for thread_id in ids:
                began = time.perf_counter()
                response = await http.delete(f"/v1/threads/{thread_id}", params={"erase": "true"})
                walls.append(time.perf_counter() - began)
                assert response.status_code == 200 and response.json()["state"] == "done", response.text
                receipts.append(response.json()["receipt"])
            erase_cpu = (_tree_cpu_s() - cpu) / threads
    print(f"{threads} threads x {turns} turns (the first one more, the warm-up); the last receipt: {receipts[-1]}")
    print(f"turn:    CPU {turn_cpu * 1e3:.1f} ms, wall {turn_wall * 1e3:.1f} ms (baseline)")
    print(f"erasure: CPU {erase_cpu * 1e3:.1f} ms ({erase_cpu / turn_cpu:.1f} turns), wall median "
          f"{statistics.median(walls) * 1e3:.1f} ms, max {max(walls) * 1e3:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("--turns", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(run(args.threads, args.turns))


if __name__ == "__main__":
    main()
