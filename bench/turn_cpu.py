"""CPU per chat turn, counted in every process of the service and split by component: the measurement issue 15
starts from (its goal: <= 15 ms a turn in-process, <= 25 ms on Serve).

Both targets of ``bench/graph.py`` run side by side (``mas start`` and the same app in one uvicorn process, each on
its own data dir), with the offline LLM. Each gets ``--turns`` ``runs/wait`` turns from one client (five-turn
consultations, ``graph.Customer``) after a warm-up, then ``--settle`` seconds for the background memory writes; the CPU
(user + system, from ``/proc/<pid>/stat``) that every process used meanwhile is divided by the turns. Processes are
named by component: a Serve replica by its deployment (Ray titles it ``ray::ServeReplica:mas:<Deployment>``), Ray's own
daemons by name, and a Milvus Lite server by the replica (or process) that started it. The load generator (this
process) is not counted. Whatever else runs on the machine meanwhile is listed as "other" (it should be ~0).

    .venv/bin/python bench/turn_cpu.py [--turns 200] [--settle 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import httpx
from graph import SIMULATED_ENV, Customer, _prepare
from llm_stream import TENANT, _catalog_without_limits, _raylets, _token, warn_leaked_raylets
from side_by_side import side_by_side

TICK_S = 1 / os.sysconf("SC_CLK_TCK")
BASELINE = "in-process app (uvicorn)"
RAY_DAEMONS = {"raylet": "raylet", "gcs_server": "gcs_server", "dashboard.py": "dashboard", "agent.py": "dashboard agent",
               "main.py": "runtime env agent", "log_monitor.py": "log monitor", "monitor.py": "autoscaler monitor"}


def _read(path: str) -> str:
    try:
        with open(path, "rb") as file:
            return file.read().decode(errors="replace")
    except OSError:
        return ""


def _cpu_s(pid: int, tid: int | None = None) -> float:
    """CPU seconds of a process, or of one of its threads."""
    stat = _read(f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat")
    if not stat:
        return 0.0
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) * TICK_S  # utime, stime (fields 14 and 15 of stat)


def _parent(pid: int) -> int:
    stat = _read(f"/proc/{pid}/stat")
    return int(stat.rpartition(")")[2].split()[1]) if stat else 0


def _own_name(pid: int) -> str | None:
    """The component a process is, by its command line; None: not one of the service's (or unknown)."""
    argv = _read(f"/proc/{pid}/cmdline").split("\0")
    head = argv[0]
    if head.startswith("ray::"):
        title = head.removeprefix("ray::").split()[0]
        return title.rsplit(":", 1)[-1] if title.startswith("ServeReplica") else f"ray::{title}"
    joined = " ".join(argv)
    if "uvicorn" in joined and "side_by_side:app" in joined:
        return BASELINE
    if "mas.cli" in joined and " start" in joined:
        return "mas start (driver)"
    for marker, name in RAY_DAEMONS.items():
        if any(Path(arg).name == marker for arg in argv[:3]) and "ray" in joined:
            return name
    return None


def _component(pid: int) -> str:
    """Its own name, or, for a helper process (a Milvus Lite server), its parent's with the helper's name."""
    name = _own_name(pid)
    if name is not None:
        return name
    comm = _read(f"/proc/{pid}/comm").strip()
    parent = _parent(pid)
    return f"{_component(parent)} / {comm}" if parent > 1 and _own_name(parent) else "other"


def _snapshot() -> dict[int, float]:
    me = os.getpid()
    return {int(entry): _cpu_s(int(entry)) for entry in os.listdir("/proc") if entry.isdigit() and int(entry) != me}


def _spent(before: dict[int, float], after: dict[int, float]) -> Counter[str]:
    spent: Counter[str] = Counter()
    for pid, cpu in after.items():
        if (used := cpu - before.get(pid, 0.0)) > 0:
            spent[_component(pid)] += used
    return spent


async def _measure(url: str, token: str, turns: int, settle_s: float) -> tuple[Counter[str], float]:
    headers = {"Authorization": f"Bearer {token}", "X-Tenant-ID": TENANT}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as http:
        assistant = (await _prepare(http))["offline"]
        customer = Customer(http, assistant)
        for _ in range(10):  # warm-up
            await customer.turn()
        await asyncio.sleep(settle_s)
        before = _snapshot()
        latencies = [(await customer.turn()).latency_s for _ in range(turns)]
        await asyncio.sleep(settle_s)  # the turns' memory writes run after their replies
        spent = _spent(before, _snapshot())
    return spent, sorted(latencies)[len(latencies) // 2] * 1000


def _report(target: str, spent: Counter[str], turns: int, p50_ms: float) -> None:
    """The target's processes add up to its CPU per turn; the other target (idle) and the rest are shown apart."""
    def own(name: str) -> bool:
        in_process = name.startswith(BASELINE)
        return in_process if target == "in-process" else not in_process and name != "other"

    total = sum(seconds for name, seconds in spent.items() if own(name)) * 1000 / turns
    print(f"\n{target}: {total:.1f} ms CPU per turn (its processes), p50 {p50_ms:.1f} ms at c=1")
    for mine in (True, False):
        print("  its processes:" if mine else "  meanwhile elsewhere (the other target idle, the rest of the machine):")
        for name, seconds in spent.most_common():
            if own(name) == mine and seconds * 1000 / turns >= 0.05:
                print(f"  {seconds * 1000 / turns:7.2f} ms  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds for background work before and after")
    args = parser.parse_args()
    raylets_before = _raylets()
    scratch = Path(tempfile.mkdtemp(prefix="mas-bench-catalog-"))
    try:
        env = {"MAS_MODELS_CONFIG": str(_catalog_without_limits(scratch)), **SIMULATED_ENV}
        with side_by_side("serve", env, own_baseline_dir=True) as (urls, data_dir):
            token = _token(urls["serve"], data_dir)
            for target, url in (("in-process", urls["uvicorn"]), ("serve", urls["serve"])):
                spent, p50_ms = asyncio.run(_measure(url, token, args.turns, args.settle))
                _report(target, spent, args.turns, p50_ms)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        warn_leaked_raylets(raylets_before)


if __name__ == "__main__":
    sys.exit(main())
