"""Where a chat turn's CPU goes in the in-process app: ``py-spy`` over every thread of one uvicorn process (SQLite,
Milvus Lite's gRPC and the stores run in worker threads, which a cProfile of the main thread never sees), while one
client sends ``--turns`` ``runs/wait`` turns (five-turn consultations, ``graph.Customer``, offline LLM).

Prints the CPU per turn from ``/proc`` (the app and its Milvus Lite helper processes) and the top frames by busy
samples; ``--stacks FILE`` keeps the collapsed stacks. Quicker than ``turn_cpu.py`` (no Serve), for iterating on a cut.

    .venv/bin/python bench/turn_profile.py [--turns 300] [--stacks /tmp/turn.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import httpx
from graph import SIMULATED_ENV, Customer, _prepare
from llm_stream import TENANT, _catalog_without_limits, _token
from side_by_side import REPO, _wait, free_port
from turn_cpu import _cpu_s, _parent, _read

from mas.cli import _with_services
from mas.dev_key import ensure_dev_key
from runtime.settings import Settings


def _tree(root: int) -> list[int]:
    """The process and its descendants (Milvus Lite runs a helper process per file)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            children.setdefault(_parent(int(entry)), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _threads(pids: list[int]) -> dict[tuple[int, int], tuple[str, float]]:
    """(pid, tid) -> (thread name, CPU seconds) for every thread of these processes."""
    found = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in map(int, tids):
            name = _read(f"/proc/{pid}/task/{tid}/comm").strip()
            where = "main" if tid == pid == pids[0] else name if pid == pids[0] else f"helper {pid} / {name}"
            found[(pid, tid)] = (where, _cpu_s(pid, tid))
    return found


def _by_thread(before: dict[tuple[int, int], tuple[str, float]], after: dict[tuple[int, int], tuple[str, float]]) -> Counter[str]:
    """CPU seconds by thread name (threads of a pool share their name's line: "ThreadPoolExecutor-0" for all of it)."""
    spent: Counter[str] = Counter()
    for key, (name, cpu) in after.items():
        spent[name.rstrip("0123456789").rstrip("_-")] += cpu - before.get(key, (name, 0.0))[1]
    return spent


async def _turns(url: str, token: str, turns: int) -> None:
    headers = {"Authorization": f"Bearer {token}", "X-Tenant-ID": TENANT}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as http:
        customer = Customer(http, (await _prepare(http))["offline"])
        for _ in range(turns):
            await customer.turn()


PROJECT = ("agents/", "api/", "llm/", "memory/", "runs/", "runtime/", "store/", "telemetry/", "deployments/")


def _frames(stack: str) -> list[tuple[str, str]]:
    """(function, file relative to the repo or site-packages) of each frame, outermost first."""
    frames = []
    for frame in stack.split(";")[2:]:  # after "process …" and "thread …"
        function, _, where = frame.rpartition(" (")
        path = where.rstrip(")").rsplit(":", 1)[0].replace(str(REPO) + "/", "").split("site-packages/")[-1]
        frames.append((function, path))
    return frames


def _shares(collapsed: Path) -> tuple[Counter[str], Counter[str], int]:
    """Busy samples by the innermost frame of this project (whose work it is) and by the library the sample is in
    (its innermost frame's top-level package, or "python" for the standard library)."""
    by_caller: Counter[str] = Counter()
    by_library: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames, samples = _frames(stack), int(count)
        total += samples
        mine = [f"{function} ({path})" for function, path in frames if path.startswith(PROJECT)]
        by_caller[mine[-1] if mine else "(outside the project: servers, loops, idle pools)"] += samples
        leaf = frames[-1][1] if frames else "?"
        by_library["project" if leaf.startswith(PROJECT) else leaf.split("/")[0] if "/" in leaf else "python"] += samples
    return by_caller, by_library, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--stacks", type=Path, help="keep the collapsed stacks here (flamegraph.pl or inferno input)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="mas-turn-profile-"))
    env = {**os.environ, **SIMULATED_ENV, "MAS_DATA_DIR": str(scratch), "PYTHONUNBUFFERED": "1",
           "MAS_MODELS_CONFIG": str(_catalog_without_limits(scratch))}
    env.pop("MAS_DATABASE_URL", None)
    os.environ.update(env)
    _with_services(Settings(), ensure_dev_key)  # the dev key _token reads
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(scratch / "uvicorn.log", "wb")
    app = subprocess.Popen([sys.executable, "-m", "uvicorn", "side_by_side:app", "--factory", "--app-dir",
                            str(REPO / "bench"), "--port", str(port), "--no-access-log", "--log-level", "warning"],
                           env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait(url, app, "/v1/ready")
        token = _token(url, scratch)
        asyncio.run(_turns(url, token, args.warmup))
        before = {pid: _cpu_s(pid) for pid in _tree(app.pid)}
        threads_before = _threads(_tree(app.pid))
        collapsed = scratch / "profile.txt"
        spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record",
                                "--pid", str(app.pid), "--threads", "--subprocesses", "--rate", "200", "--format", "raw",
                                "--output", str(collapsed), "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        asyncio.run(_turns(url, token, args.turns))
        spent = sum(_cpu_s(pid) - before.get(pid, 0.0) for pid in _tree(app.pid))
        threads = _by_thread(threads_before, _threads(_tree(app.pid)))
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
        print(f"in-process: {spent * 1000 / args.turns:.1f} ms CPU per turn (the app and its helpers, /proc)")
        for name, seconds in threads.most_common():
            if seconds * 1000 / args.turns >= 0.1:
                print(f"  {seconds * 1000 / args.turns:6.1f} ms  {name}")
        by_caller, by_library, total = _shares(collapsed)
        for title, shares, limit in (("by the innermost project frame", by_caller, 25), ("by library", by_library, 12)):
            print(f"busy samples {title}:")
            for name, samples in shares.most_common(limit):
                print(f"  {samples / max(total, 1):6.1%}  {name}")
        if args.stacks:
            shutil.copy(collapsed, args.stacks)
    finally:
        app.send_signal(signal.SIGINT)
        app.wait(timeout=60)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
