"""Batch jobs on Serve: items/s of a 1,000-item ``social.comment`` batch (offline) against a sequential loop of HTTP
calls, with 1 and 2 ``Social`` replicas, and live chat's p50 while the batch runs against its idle p50.

    .venv/bin/python bench/batches.py [--items 1000] [--turns 20]

Each replica count gets its own `mas start` (a copy of configs/serve.yaml with `Social` at that many replicas); the
sequential loop and the idle chat are measured on the same cluster, just before the batch.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from llm_stream import TENANT, _raylets, _token, warn_leaked_raylets
from side_by_side import REPO, _stop, _wait, free_port

POSTS = ["刚做完水光针一周，补水效果不错", "热玛吉做完三个月的真实感受", "敏感肌换季泛红，求推荐修护方法", "今天去爬山了，风景很好"]


def _config(directory: Path, replicas: int) -> Path:
    config = yaml.safe_load((REPO / "configs" / "serve.yaml").read_text())
    for deployment in config["applications"][0]["deployments"]:
        if deployment["name"] == "Social":
            deployment.pop("autoscaling_config", None)
            deployment["num_replicas"] = replicas
    path = directory / f"serve-social-{replicas}.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


@contextmanager
def started(replicas: int) -> Iterator[tuple[str, Path]]:
    data_dir = Path(tempfile.mkdtemp(prefix="mas-bench-batches-"))
    port = free_port()
    environ = {**os.environ, "MAS_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    environ.pop("MAS_DATABASE_URL", None)
    with open(data_dir / "mas.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "mas.cli", "start", "--port", str(port), "--dashboard-port",
                                    str(free_port()), "--config", str(_config(data_dir, replicas))],
                                   env=environ, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait(url, process, "/v1/ready")
            yield url, data_dir
        finally:
            _stop(process)
            shutil.rmtree(data_dir, ignore_errors=True)


def _item(index: int) -> dict[str, Any]:
    return {"product_prompt": "光彩医美，主打水光针、热玛吉", "task": {"product_content": f"{POSTS[index % 4]}（{index}）", "likes_num": index}}


def _chat_p50(http: httpx.Client, headers: dict[str, str], assistant_id: str, turns: int, stop: threading.Event | None = None
              ) -> tuple[float, int]:
    """p50 (ms) of ``turns`` sequential runs/wait turns, each on a new thread (or until ``stop``)."""
    latencies = []
    for _ in range(turns):
        if stop is not None and stop.is_set():
            break
        thread = http.post("/v1/threads", headers=headers, json={"assistant_id": assistant_id}).json()["thread_id"]
        started_at = time.perf_counter()
        response = http.post(f"/v1/threads/{thread}/runs/wait", headers=headers,
                             json={"assistant_id": assistant_id, "input": [{"role": "user", "content": "水光针多少钱？明天下午能来吗"}]})
        response.raise_for_status()
        latencies.append((time.perf_counter() - started_at) * 1000)
    return statistics.median(latencies), len(latencies)


def measure(replicas: int, items: int, turns: int) -> dict[str, float]:
    with started(replicas) as (url, data_dir), httpx.Client(base_url=url, timeout=120) as http:
        headers = {"Authorization": f"Bearer {_token(url, data_dir)}", "X-Tenant-ID": TENANT}
        assistant = http.post("/v1/assistants", headers=headers, json={"assistant_name": "小雅", "personality": "耐心",
                                                                         "occupation": "顾问", "industry": "医美"}).json()["assistant_id"]
        _chat_p50(http, headers, assistant, 3)  # warm-up
        started_at = time.perf_counter()
        sequential = min(items, 200)
        for index in range(sequential):
            http.post("/v1/social-media/comment", headers=headers, json=_item(index)).raise_for_status()
        loop_rate = sequential / (time.perf_counter() - started_at)
        idle_p50, _ = _chat_p50(http, headers, assistant, turns)

        batch_id = http.post("/v1/batches", headers=headers, json={"kind": "social.comment", "items": [
            _item(index) for index in range(items)]}).json()["batch_id"]
        finished = threading.Event()
        during: list[tuple[float, int]] = []
        def chat() -> None:
            try:
                during.append(_chat_p50(http, headers, assistant, turns * 5, finished))
            except httpx.HTTPStatusError as exc:  # a live turn refused while the batch runs: the benchmark's finding
                print(f"live chat failed during the batch: {exc}", file=sys.stderr)
                during.append((float("nan"), 0))

        chatter = threading.Thread(target=chat)
        chatter.start()
        while (progress := http.get(f"/v1/batches/{batch_id}", headers=headers).json())["state"] in ("queued", "running"):
            time.sleep(0.5)
        finished.set()
        chatter.join()
        return {"replicas": replicas, "loop_items_per_s": loop_rate, "batch_items_per_s": progress["items_per_s"],
                "failed": progress["failed"], "idle_p50_ms": idle_p50, "busy_p50_ms": during[0][0], "busy_turns": during[0][1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=20)
    args = parser.parse_args()
    before = _raylets()
    rows = [measure(replicas, args.items, args.turns) for replicas in (1, 2)]
    warn_leaked_raylets(before)
    print("| Social replicas | sequential HTTP items/s | batch items/s | batch / loop | failed | chat p50 idle | chat p50 during batch | during / idle |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['replicas']} | {row['loop_items_per_s']:.1f} | {row['batch_items_per_s']:.1f} | "
              f"{row['batch_items_per_s'] / row['loop_items_per_s']:.2f}× | {row['failed']} | {row['idle_p50_ms']:.0f} ms | "
              f"{row['busy_p50_ms']:.0f} ms ({row['busy_turns']} turns) | {row['busy_p50_ms'] / row['idle_p50_ms']:.2f}× |")


if __name__ == "__main__":
    main()
