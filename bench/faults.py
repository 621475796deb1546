"""Faults under load on a real local cluster (``mas start``): replicas killed mid-turn, and a flaky LLM provider.

Three phases on one Serve application (embedded defaults, throughput mode as ``mas start`` sets it):

1. ``baseline``: ``--clients`` customers send ``runs/wait`` turns back to back (five-turn consultations, as in
   ``graph.py``) for ``--duration`` seconds, and one more client queues an async run every second; nothing fails.
2. ``kills``: the same load, while every graph deployment in turn (``KILLED``) loses one replica to SIGKILL, one every
   ``--kill-every`` seconds (its pid from the dashboard's Serve API). Serve replaces it.
3. ``flaky``: the same customers on an assistant whose model is an alias over a simulated provider that fails 30 %
   of its calls (errors, rate limits and timeouts), with a healthy simulated model as the fallback.

Customers resend a request after a transport error or a 5xx (``--retry-for`` seconds, the same ``Idempotency-Key``):
what the API asks of a client whose replica died mid-request. A turn fails when it still has no answer after that.

Then it waits for every async run to end, and reads the SQLite store: a turn is half-stored when a completed run
lacks its user message or reply, or a failed run left either behind; an async run is lost when it never ends.
Every figure is a count over the whole phase; the baseline phase is the yardstick for the kills phase's runs/s.

    .venv/bin/python bench/faults.py [--clients 16] [--duration 60] [--kill-every 15] [--retry-for 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from graph import Customer, RunFailed, _body, _prepare, post_resending
from llm_stream import TENANT, _raylets, _token, warn_leaked_raylets
from side_by_side import REPO, _stop, _wait, free_port

KILLED = ("Ingress", "Workflow", "Compliance", "Sentiment", "Intent", "Memory", "Product", "Sales", "LLMRouter", "RunWorker")
FLAKY = {"error_rate": 0.1, "rate_limit_rate": 0.1, "timeout_rate": 0.1}  # 30 % of calls fail, three ways


@dataclass
class Phase:
    name: str
    elapsed_s: float
    done: list[float]  # seconds into the phase at which each runs/wait turn was answered
    errors: list[tuple[float, str]]  # (seconds into the phase, what the client got), async submissions included
    async_runs: list[tuple[str, str]] = field(default_factory=list)  # (thread_id, run_id)
    kills: list[tuple[float, str]] = field(default_factory=list)  # (seconds into the phase, deployment)
    resent: int = 0  # requests the customers sent again (same Idempotency-Key) after a transport error or a 5xx

    @property
    def runs_per_s(self) -> float:
        return len(self.done) / self.elapsed_s

    @property
    def failed_waits(self) -> int:
        return sum(not error.startswith("async submit") for _, error in self.errors)

    @property
    def failed_share(self) -> float:
        return self.failed_waits / max(1, len(self.done) + self.failed_waits)


def _models_config(directory: Path) -> Path:
    """configs/models.yaml without tenant limits, plus ``flaky-fallback``: a failing simulated model, then a healthy one."""
    config = yaml.safe_load((REPO / "configs" / "models.yaml").read_text())
    config["limits"] = {"default": {"requests_per_minute": None, "tokens_per_minute": None}, "tenants": {}}
    config["models"].append({"name": "flaky-sim", "provider": "simulated", "context_window": 32768,
                             "options": {"ttft_ms": 50, "tokens_per_s": 2000, "output_tokens": 20, **FLAKY},
                             "timeouts": {"first_token_s": 2, "total_s": 5}})
    config["aliases"].append({"name": "flaky-fallback", "fallback": ["flaky-sim", "simulated-chat"]})
    path = directory / "models.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    return path


def _replica_pid(dashboard: str, deployment: str) -> int | None:
    token_file = Path.home() / ".ray" / "auth_token"
    headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"} if token_file.exists() else {}
    details = httpx.get(f"{dashboard}/api/serve/applications/", headers=headers, timeout=30).json()
    replicas = details["applications"]["mas"]["deployments"][deployment]["replicas"]
    running = [replica["pid"] for replica in replicas if replica["state"] == "RUNNING" and replica.get("pid")]
    return running[0] if running else None


async def _killer(dashboard: str, began: float, interval: float, kills: list[tuple[float, str]]) -> None:
    for index, deployment in enumerate(KILLED, start=1):
        await asyncio.sleep(max(0.0, began + index * interval - time.perf_counter()))
        pid = await asyncio.to_thread(_replica_pid, dashboard, deployment)
        if pid is None:
            print(f"  {deployment}: no running replica to kill", file=sys.stderr)
            continue
        os.kill(pid, signal.SIGKILL)
        kills.append((time.perf_counter() - began, deployment))
        print(f"  killed {deployment} pid {pid}", file=sys.stderr)


async def _customers(customers: list[Customer], began: float, duration_s: float, done: list[float],
                     errors: list[tuple[float, str]]) -> None:
    """Each customer sends turns back to back until the deadline (``graph.py``'s load, with the time of each outcome)."""

    async def play(customer: Customer) -> None:
        while time.perf_counter() - began < duration_s:
            try:
                await customer.turn()
                done.append(time.perf_counter() - began)
            except (httpx.HTTPError, RunFailed) as exc:
                errors.append((time.perf_counter() - began, str(exc) if isinstance(exc, RunFailed) else type(exc).__name__))

    await asyncio.gather(*(play(customer) for customer in customers))


async def _async_client(http: httpx.AsyncClient, assistant_id: str, began: float, duration_s: float, retry_for_s: float,
                        accepted: list[tuple[str, str]], errors: list[tuple[float, str]]) -> None:
    while time.perf_counter() - began < duration_s:
        try:
            created, _ = await post_resending(http, "/v1/threads", {"assistant_id": assistant_id}, {}, retry_for_s)
            thread_id = _body(created)["thread_id"]
            body = {"assistant_id": assistant_id, "input": [{"role": "user", "content": "想了解一下水光针，价格多少？"}]}
            queued, _ = await post_resending(http, f"/v1/threads/{thread_id}/runs/async", body,
                                             {"Idempotency-Key": str(uuid.uuid4())}, retry_for_s)
            accepted.append((thread_id, _body(queued)["run_id"]))
        except (httpx.HTTPError, RunFailed) as exc:
            errors.append((time.perf_counter() - began, f"async submit: {exc if isinstance(exc, RunFailed) else type(exc).__name__}"))
        await asyncio.sleep(1.0)


async def _phase(name: str, http: httpx.AsyncClient, assistant_id: str, duration_s: float, args: argparse.Namespace,
                 dashboard: str | None = None) -> Phase:
    customers = [Customer(http, assistant_id, retry_for_s=args.retry_for) for _ in range(args.clients)]
    await asyncio.gather(*(customer.turn() for customer in customers))  # warm-up: connections and threads
    phase = Phase(name, 0.0, [], [])
    began = time.perf_counter()
    work = [_customers(customers, began, duration_s, phase.done, phase.errors),
            _async_client(http, assistant_id, began, duration_s, args.retry_for, phase.async_runs, phase.errors)]
    if dashboard:
        work.append(_killer(dashboard, began, args.kill_every, phase.kills))
    retries_before = sum(customer.retries for customer in customers)
    await asyncio.gather(*work)
    phase.elapsed_s = time.perf_counter() - began
    phase.resent = sum(customer.retries for customer in customers) - retries_before
    print(f"{name}: {phase.runs_per_s:.1f} runs/s, {len(phase.errors)} errors", file=sys.stderr)
    return phase


async def _unfinished(http: httpx.AsyncClient, runs: list[tuple[str, str]], timeout_s: float) -> list[str]:
    """Async runs still queued or running after ``timeout_s``: (with their status) the lost ones."""
    deadline = time.monotonic() + timeout_s
    pending = list(runs)
    while pending and time.monotonic() < deadline:
        still = []
        for thread_id, run_id in pending:
            status = (await http.get(f"/v1/threads/{thread_id}/runs/{run_id}/status")).json()
            if status.get("status") not in ("completed", "failed"):
                still.append((thread_id, run_id))
        pending = still
        await asyncio.sleep(1.0)
    return [run_id for _, run_id in pending]


def _store_audit(database: Path) -> dict[str, Any]:
    """Runs by mode and status, and the runs whose stored messages contradict their status."""
    with sqlite3.connect(database) as db:
        runs = db.execute("SELECT run_id, mode, status, error FROM runs").fetchall()
        roles = {}
        for run_id, role in db.execute("SELECT run_id, role FROM messages WHERE run_id IS NOT NULL"):
            roles.setdefault(run_id, []).append(role)
    half = [run_id for run_id, _, status, _ in runs
            if (status == "completed" and sorted(roles.get(run_id, [])) != ["assistant", "user"])
            or (status != "completed" and roles.get(run_id))]
    failed_codes = Counter(json.loads(error).get("code") for _, _, status, error in runs if status == "failed" and error)
    return {"runs": Counter((mode, status) for _, mode, status, _ in runs), "half_stored": half, "failed_codes": failed_codes}


async def _bench(api: str, dashboard: str, data_dir: Path, args: argparse.Namespace) -> None:
    token = _token(api, data_dir)
    headers = {"Authorization": f"Bearer {token}", "X-Tenant-ID": TENANT}
    limits = httpx.Limits(max_connections=args.clients + 4, max_keepalive_connections=args.clients + 4)
    async with httpx.AsyncClient(base_url=api, headers=headers, limits=limits, timeout=120) as http:
        assistants = await _prepare(http)
        flaky = _body(await http.post("/v1/assistants", json={"assistant_name": "小雅", "personality": "耐心",
                                                              "occupation": "顾问", "industry": "医美", "model": "flaky-fallback"}))
        phases = [await _phase("baseline", http, assistants["offline"], args.duration, args),
                  await _phase("kills", http, assistants["offline"], args.kill_every * (len(KILLED) + 1), args, dashboard),
                  await _phase("flaky", http, flaky["assistant_id"], args.duration, args)]
        lost = await _unfinished(http, [run for phase in phases for run in phase.async_runs], timeout_s=180)
    await asyncio.sleep(2)
    audit = _store_audit(data_dir / "mas.db")
    _report(phases, lost, audit, args)


def _report(phases: list[Phase], lost: list[str], audit: dict[str, Any], args: argparse.Namespace) -> None:
    base = phases[0].runs_per_s
    print(f"\n{args.clients} clients, baseline and flaky {args.duration:g} s, kills {phases[1].elapsed_s:.0f} s (one every "
          f"{args.kill_every:g} s), one async run per second "
          f"({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores)")
    print("| phase | runs/wait | failed | failed % | requests resent | runs/s (x baseline) | async runs queued "
          "| async submits refused |")
    print("|---|---|---|---|---|---|---|---|")
    for phase in phases:
        print(f"| {phase.name} | {len(phase.done) + phase.failed_waits} | {phase.failed_waits} | {100 * phase.failed_share:.2f} "
              f"| {phase.resent} | {phase.runs_per_s:.1f} ({phase.runs_per_s / base:.2f}) | {len(phase.async_runs)} "
              f"| {len(phase.errors) - phase.failed_waits} |")
    for phase in phases:
        if phase.kills:
            _report_kills(phase)
        elif phase.errors:
            print(f"{phase.name} errors: {dict(Counter(error for _, error in phase.errors))}")
    print(f"\nasync runs never finished (lost): {len(lost)} {lost[:5]}")
    print(f"half-stored turns: {len(audit['half_stored'])} {audit['half_stored'][:5]}")
    print(f"stored runs by (mode, status): {dict(audit['runs'])}; failed by code: {dict(audit['failed_codes'])}")


def _report_kills(phase: Phase) -> None:
    """Per kill: the errors clients got until the next kill, and the longest stretch with no turn answered."""
    print(f"\n| {phase.name}: replica killed | at s | errors until the next kill | longest stall s |")
    print("|---|---|---|---|")
    bounds = [*phase.kills, (phase.elapsed_s, "")]
    for (at, deployment), (until, _) in zip(bounds, bounds[1:]):
        errors = [error for t, error in phase.errors if at <= t < until]
        answered = [at, *(t for t in phase.done if at <= t < until), until]
        stall = max(later - earlier for earlier, later in zip(answered, answered[1:]))
        print(f"| {deployment} | {at:.1f} | {len(errors)} {dict(Counter(errors)) if errors else ''} | {stall:.1f} |")
    if early := [error for t, error in phase.errors if t < phase.kills[0][0]]:
        print(f"errors before the first kill: {dict(Counter(early))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of the baseline and flaky phases")
    parser.add_argument("--kill-every", type=float, default=15.0, help="seconds between kills (the kills phase lasts 11 of them)")
    parser.add_argument("--retry-for", type=float, default=60.0,
                        help="seconds a customer keeps resending a request (same Idempotency-Key) after a transport "
                             "error or a 5xx; 0: every such answer is a failed turn")
    args = parser.parse_args()
    before = _raylets()
    data_dir = Path(tempfile.mkdtemp(prefix="mas-faults-"))
    api_port, dashboard_port = free_port(), free_port()
    env = {**os.environ, "MAS_DATA_DIR": str(data_dir), "MAS_MODELS_CONFIG": str(_models_config(data_dir)),
           "MAS_RUN_LEASE_SECONDS": "10", "PYTHONUNBUFFERED": "1"}
    env.pop("MAS_DATABASE_URL", None)
    with open(data_dir / "processes.log", "wb") as log:
        serve = subprocess.Popen([sys.executable, "-m", "mas.cli", "start", "--port", str(api_port),
                                  "--dashboard-port", str(dashboard_port)],
                                 env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait(f"http://127.0.0.1:{api_port}", serve, "/v1/ready")
            asyncio.run(_bench(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{dashboard_port}", data_dir, args))
        finally:
            _stop(serve)
            print(f"Serve log: {data_dir / 'processes.log'}", file=sys.stderr)
    warn_leaked_raylets(before)


if __name__ == "__main__":
    main()
