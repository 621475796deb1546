"""``mas start`` from launch to ready, and the memory the embedded service holds (PSS, by component), for issue 15's
goals (ready <= 20 s with packages installed; <= 2.0 GB PSS).

Starts ``mas start`` on a fresh data dir, times it until ``/v1/ready`` answers 200, waits ``--settle`` seconds, then
sums ``Pss`` (``/proc/<pid>/smaps_rollup``: shared pages divided among the processes sharing them) over every process of
the service, named as in ``turn_cpu.py``; then stops it.

    .venv/bin/python bench/footprint.py [--settle 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from llm_stream import _raylets, warn_leaked_raylets
from side_by_side import free_port
from turn_cpu import _component, _read


def _pss_mb(pid: int) -> float:
    for line in _read(f"/proc/{pid}/smaps_rollup").splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settle", type=float, default=10.0)
    args = parser.parse_args()
    raylets_before = _raylets()
    data_dir = Path(tempfile.mkdtemp(prefix="mas-footprint-"))
    port = free_port()
    environ = {**os.environ, "MAS_DATA_DIR": str(data_dir)}
    environ.pop("MAS_DATABASE_URL", None)
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "mas.cli", "start", "--port", str(port), "--dashboard-port",
                                str(free_port()), "--metrics-port", str(free_port())], env=environ,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() - started > 300:
                raise RuntimeError("mas start did not become ready")
            time.sleep(0.25)
        ready_s = time.monotonic() - started
        time.sleep(args.settle)
        pss: Counter[str] = Counter()
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid() and (name := _component(int(entry))) != "other":
                pss[name] += _pss_mb(int(entry))
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=120)
        shutil.rmtree(data_dir, ignore_errors=True)
        warn_leaked_raylets(raylets_before)
    print(f"ready after {ready_s:.1f} s; PSS {sum(pss.values()) / 1024:.2f} GB in {len(pss)} components")
    for name, mb in pss.most_common():
        print(f"  {mb:7.1f} MB  {name}")


if __name__ == "__main__":
    main()
