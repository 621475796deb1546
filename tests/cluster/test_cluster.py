"""The production shape on one machine: cluster/rayservice.yaml's Serve config, scaled down, on a head and two worker
nodes (separate raylets) with PostgreSQL, Redis and a Milvus server; then a worker node is lost under load."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import asyncpg
import httpx
import pytest
import redis
from pymilvus import MilvusClient
from sqlalchemy.engine import make_url

from tests.cluster import manifest
from tests.cluster.conftest import FIGURES, TENANT_PREFIX, Deployed
from tests.cluster.load import TurnLoad
from tests.cluster.local_cluster import LocalCluster
from tests.serve.test_serve_graph import CATALOG, Brand, body, finished, first_turn_is_remembered, until

pytestmark = pytest.mark.cluster

BRAND, LOSS = f"{TENANT_PREFIX}brand", f"{TENANT_PREFIX}loss"
LOAD_CLIENTS = 3
ASYNC_RUNS = 4


def expected_replicas(deployed: Deployed) -> dict[str, int]:
    return {d["name"]: manifest.replica_count(d) for d in deployed.config["applications"][0]["deployments"]}


def test_every_deployment_runs_its_replicas_spread_over_the_workers(deployed: Deployed) -> None:
    """Two replicas of each deployment, one on each worker; none on the head (its ``num-cpus: "0"``)."""
    expected = expected_replicas(deployed)
    workers = {worker.node_id for worker in deployed.nodes.workers}
    assert set(deployed.nodes.application()["deployments"]) == set(expected)
    for name, count in expected.items():
        nodes = [replica["node_id"] for replica in deployed.nodes.replicas(name)]
        assert len(nodes) == count == 2, (name, nodes)
        assert set(nodes) == workers, f"{name}: replicas on {nodes}, not one on each worker"


def test_a_conversation_with_memory_and_products_lives_in_the_real_services(deployed: Deployed) -> None:
    with httpx.Client(base_url=deployed.api, timeout=60) as http:
        brand = Brand(deployed, http, BRAND)  # type: ignore[arg-type]  # Brand only asks for a token
        assert brand.call("POST", "/v1/products/import", json=CATALOG)["failed"] == []
        assistant_id = brand.assistant()
        thread_id = brand.thread(assistant_id)
        runs = f"/v1/threads/{thread_id}/runs"
        first_turn_is_remembered(brand, assistant_id, thread_id)
        second = brand.call("POST", f"{runs}/wait", json=body(assistant_id, "热玛吉大概多少钱？"))
        assert "射频紧致提升" in second["response"]
        assert any("过敏" in m["memory"]["text"] for m in second["agents"]["memory"]["output"]["memories"])
        assert len(brand.call("GET", f"/v1/threads/{thread_id}/messages")["messages"]) == 4

    prefix = deployed.environment["MAS_MILVUS_COLLECTION_PREFIX"]
    milvus = MilvusClient(uri=deployed.environment["MAS_MILVUS_URI"], timeout=10)
    try:
        assert {f"{prefix}_memories", f"{prefix}_products"} <= set(milvus.list_collections())
    finally:
        milvus.close()
    with redis.from_url(deployed.redis_url) as window:
        assert window.llen(f"mas:{BRAND}:window:{thread_id}") == 4


def test_a_token_issued_by_one_ingress_replica_verifies_on_the_other(deployed: Deployed) -> None:
    """One token, turns until the run log (each run's ``run.finished`` line, in the stderr of the Ingress process that
    ran it) shows both Ingress replicas: at least one of them verified a token it did not issue."""
    ingress = {replica["pid"] for replica in deployed.nodes.replicas("Ingress")}
    assert len(ingress) == 2
    served: dict[int, int] = {}
    with httpx.Client(base_url=deployed.api, timeout=60) as http:
        brand = Brand(deployed, http, f"{TENANT_PREFIX}jwt")  # type: ignore[arg-type]
        assistant_id = brand.assistant()
        for turn in range(30):
            thread_id = brand.thread(assistant_id)
            request_id = f"jwt-{thread_id}"
            brand.call("POST", f"/v1/threads/{thread_id}/runs/wait", json=body(assistant_id, "你好"),
                       headers={"X-Request-ID": request_id})
            pid = until(lambda: next((pid for pid in ingress if request_id in deployed.nodes.process_log(pid)), None), 30)
            served[pid] = served.get(pid, 0) + 1
            if len(served) == 2:
                break
    assert set(served) == ingress, f"30 turns all went to one replica: {served}"


def test_losing_a_worker_node_under_load_keeps_the_service_answering(deployed: Deployed, request: pytest.FixtureRequest) -> None:
    nodes = deployed.nodes
    expected = expected_replicas(deployed)
    with httpx.Client(base_url=deployed.api, timeout=60) as http:
        brand = Brand(deployed, http, LOSS)  # type: ignore[arg-type]
        assistant_id, slow = brand.assistant(), brand.assistant(model="slow-chat")
        load = TurnLoad(deployed.api, brand.headers, assistant_id, [brand.thread(assistant_id) for _ in range(LOAD_CLIENTS)])
        load.start()
        until(lambda: load.answered_since(0) >= 2 * LOAD_CLIENTS, 60)

        queued = [(thread_id, brand.call("POST", f"/v1/threads/{thread_id}/runs/async", 202,
                                         json=body(slow, "想了解热玛吉"))["run_id"])
                  for thread_id in [brand.thread(slow) for _ in range(ASYNC_RUNS)]]
        until(lambda: all(brand.call("GET", f"/v1/threads/{t}/runs/{r}/status")["status"] == "running" for t, r in queued))
        claimed_by = claims(deployed.database_url, [run_id for _, run_id in queued])
        # The worker node whose RunWorker holds a claim: its runs must be taken over by the other node's.
        run_workers = {replica["pid"]: replica["node_id"] for replica in nodes.replicas("RunWorker")}
        victim_id = next(run_workers[pid] for pid in claimed_by.values() if pid in run_workers)
        victim = next(worker for worker in nodes.workers if worker.node_id == victim_id)
        before = {name: nodes.replicas(name) for name in expected}
        lost_pids = [replica["pid"] for replicas in before.values() for replica in replicas if replica["node_id"] == victim_id]

        lost_at = nodes.lose(victim)
        rescheduled_at = until(lambda: rescheduled(nodes, expected, victim_id) and time.monotonic(), 180, every_s=1)
        until(lambda: load.answered_since(rescheduled_at) >= 2 * LOAD_CLIENTS, 60)
        attempts = load.stop()

        for thread_id, run_id in queued:
            assert until(finished(brand, thread_id, run_id), 120)["status"] == "completed"
        taken_over = [brand.call("GET", f"/v1/threads/{t}/runs/{r}")["attempts"] for t, r in queued]

    failed = [attempt for attempt in attempts if not attempt.ok]
    answered_after = [attempt.ended - lost_at for attempt in attempts if attempt.ok and attempt.started > lost_at]
    during = sum(1 for attempt in attempts if attempt.ok and lost_at < attempt.ended < rescheduled_at)
    last_failure = f"{max(a.ended for a in failed) - lost_at:.1f} s" if failed else "none"
    figures = (f"node loss: {len(failed)} failed of {len(attempts)} requests, the last {last_failure} after the loss "
               f"({len(load.unanswered)} turns unanswered after retries); first answer to a request sent after the loss "
               f"{min(answered_after):.1f} s after it; {during} turns answered while Serve rescheduled; Serve back to "
               f"{sum(expected.values())} replicas on the surviving worker {rescheduled_at - lost_at:.1f} s after the loss; "
               f"async runs' attempts {taken_over}")
    request.config.stash.setdefault(FIGURES, []).append(figures)

    assert load.unanswered == [], figures  # every turn answered, with the retries the README prescribes
    assert all(attempt.started >= lost_at - 1 for attempt in failed), figures  # no failure before the node loss
    assert 2 in taken_over, figures  # the lost node's async runs were taken over and finished by the survivor
    assert not [pid for pid in lost_pids if alive(pid)], "replicas of the lost node still running"
    # The load's token was issued before the loss: the Ingress replica started after it verifies it too.
    (new_ingress,) = [r["pid"] for r in nodes.replicas("Ingress") if r["pid"] not in {b["pid"] for b in before["Ingress"]}]
    assert any(attempt.request_id in nodes.process_log(new_ingress) for attempt in attempts if attempt.ok)

    turns = stored_turns(deployed.database_url, LOSS)
    half_stored = {run_id: roles for run_id, roles in turns.items() if sorted(roles) != ["assistant", "user"]}
    assert half_stored == {}, half_stored
    said = [content for roles in turns.values() for role, content in roles.items() if role == "user"]
    answered = {attempt.text for attempt in attempts if attempt.ok}
    assert sorted(text for text in said if text in answered) == sorted(answered), "a turn stored twice or not at all"


def rescheduled(nodes: LocalCluster, expected: dict[str, int], lost: str) -> bool:
    """Every deployment back to its replica count, none on the lost node."""
    app = nodes.application()
    for name, count in expected.items():
        running = [r for r in app["deployments"][name]["replicas"] if r["state"] == "RUNNING"]
        if len(running) != count or any(r["node_id"] == lost for r in running):
            return False
    return True


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def claims(database_url: str, run_ids: list[str]) -> dict[str, int]:
    """run_id -> pid of the RunWorker holding its claim (``claimed_by`` is ``<id>@<host>:<pid>``)."""
    rows = query(database_url, "SELECT run_id, claimed_by FROM runs WHERE run_id = ANY($1::text[])", run_ids)
    return {row["run_id"]: int(row["claimed_by"].rsplit(":", 1)[1]) for row in rows if row["claimed_by"]}


def stored_turns(database_url: str, tenant_id: str) -> dict[str, dict[str, str]]:
    """The tenant's stored messages by run: run_id -> {role: content}."""
    turns: dict[str, dict[str, str]] = {}
    for row in query(database_url, "SELECT run_id, role, content #>> '{}' AS content FROM messages WHERE tenant_id = $1", tenant_id):
        roles = turns.setdefault(row["run_id"], {})
        assert row["role"] not in roles, f"run {row['run_id']} stored two {row['role']} messages"
        roles[row["role"]] = row["content"]
    return turns


def query(database_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def fetch() -> list[asyncpg.Record]:
        dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(dsn)
        try:
            return await connection.fetch(sql, *args)
        finally:
            await connection.close()

    return asyncio.run(fetch())
