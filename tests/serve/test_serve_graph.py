"""The agent graph on a real local Ray Serve cluster (`mas start`): a conversation of several turns over HTTP
(wait, stream, async) and an async run that outlives the worker process executing it."""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from runtime.settings import REPO_ROOT
from tests.api.test_runs import sse_events
from tests.llm.fake_servers import FakeOpenAIServer, Reply
from tests.serve.service import Running, mas_started

pytestmark = pytest.mark.serve

VIOLATING_DRAFT = "您好！我们的水光针效果是全国最好的，保证无副作用。欢迎来店面诊。"
CATALOG = [
    {"product_id": "hydra", "name": "补水嫩肤疗程", "category": "皮肤管理", "description": "深层补水，改善干燥暗沉", "price": 980,
     "indications": ["皮肤干燥"], "aliases": ["水光针"]},
    {"product_id": "lift", "name": "射频紧致提升", "category": "抗衰", "description": "改善松弛和细纹", "price": 6800, "aliases": ["热玛吉"]},
]


def models_config(path: Path) -> Path:
    """The shipped catalog plus a scripted upstream (the violating draft) and a slow simulated model."""
    catalog = yaml.safe_load((REPO_ROOT / "configs" / "models.yaml").read_text())
    catalog["providers"].append({"name": "scripted", "type": "openai_compatible",
                                 "api_key_env": "TEST_SCRIPTED_KEY", "base_url_env": "TEST_SCRIPTED_URL"})
    catalog["models"] += [
        {"name": "scripted-llm", "provider": "scripted", "context_window": 32000},
        {"name": "slow-chat", "provider": "simulated", "context_window": 32768,
         "options": {"ttft_ms": 6000, "tokens_per_s": 20, "output_tokens": 40}},
        {"name": "paced-chat", "provider": "simulated", "context_window": 32768,
         "options": {"ttft_ms": 300, "tokens_per_s": 60, "output_tokens": 40}},
    ]
    path.write_text(yaml.safe_dump(catalog, allow_unicode=True))
    return path


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    data_dir = tmp_path_factory.mktemp("mas-graph")
    with FakeOpenAIServer() as upstream:
        upstream.script(Reply(text=VIOLATING_DRAFT))
        env = {
            "MAS_MODELS_CONFIG": str(models_config(data_dir / "models.yaml")),
            "TEST_SCRIPTED_KEY": "sk-test", "TEST_SCRIPTED_URL": f"{upstream.url}/v1",
            "MAS_RUN_LEASE_SECONDS": "3", "MAS_WORKER_POLL_SECONDS": "0.5",
            "MAS_METRICS_TENANTS": '["metrics-brand"]', "RAY_metrics_report_interval_ms": "1000",
        }
        with mas_started(data_dir, env=env) as running:
            yield running


class Brand:
    """One tenant's view of the running service."""

    def __init__(self, service: Running, http: httpx.Client, tenant_id: str) -> None:
        self.http = http
        auth = {"Authorization": f"Bearer {service.token(http)}"}
        assert http.post("/v1/tenants/sync", headers=auth, json={"tenant_id": tenant_id, "tenant_name": "光彩医美"}).status_code in (200, 201)
        self.headers = {**auth, "X-Tenant-ID": tenant_id}

    def call(self, method: str, url: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.http.request(method, url, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)
        assert response.status_code == status, response.text
        return response.json()

    def assistant(self, **fields: Any) -> str:
        body = {"assistant_name": "小雅", "personality": "耐心", "occupation": "皮肤管理顾问", "industry": "医美", **fields}
        return self.call("POST", "/v1/assistants", 201, json=body)["assistant_id"]

    def thread(self, assistant_id: str) -> str:
        return self.call("POST", "/v1/threads", 201, json={"assistant_id": assistant_id, "nickname": "Lily"})["thread_id"]


def until(check: Callable[[], Any], timeout_s: float = 60.0, every_s: float = 0.25,
          seen: Callable[[], str] = lambda: "") -> Any:
    """``check()``'s first truthy result; on timeout the failure says what ``seen()`` last saw."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(every_s)
    pytest.fail(f"timed out waiting {seen()}")


def body(assistant_id: str, text: str) -> dict[str, Any]:
    return {"assistant_id": assistant_id, "input": [{"role": "user", "content": text}]}


def finished(brand: Brand, thread_id: str, run_id: str) -> Callable[[], dict[str, Any] | None]:
    def check() -> dict[str, Any] | None:
        status = brand.call("GET", f"/v1/threads/{thread_id}/runs/{run_id}/status")
        return status if status["status"] in ("completed", "failed") else None

    return check


def first_turn_is_remembered(brand: Brand, assistant_id: str, thread_id: str) -> None:
    """A customer's first turn finds the catalog's hydrating treatment, and its allergy reaches long-term memory."""
    first = brand.call("POST", f"/v1/threads/{thread_id}/runs/wait", json=body(assistant_id, "我对玻尿酸过敏，皮肤干燥，想补水"))
    assert first["agents"]["products"]["output"]["products"][0]["product_id"] == "hydra"
    assert "补水嫩肤疗程" in first["response"]
    until(lambda: brand.call("GET", "/v1/memory/search", params={"thread_id": thread_id, "q": "过敏"})["results"])


def test_a_conversation_of_several_turns_runs_the_graph_across_deployments(service: Running) -> None:
    with httpx.Client(base_url=service.api, timeout=60) as http:
        brand = Brand(service, http, "graph-brand")
        assert brand.call("POST", "/v1/products/import", json=CATALOG)["failed"] == []
        assistant_id = brand.assistant(address="上海市静安区南京西路1号")
        thread_id = brand.thread(assistant_id)
        runs = f"/v1/threads/{thread_id}/runs"

        first_turn_is_remembered(brand, assistant_id, thread_id)

        with http.stream("POST", f"{runs}/stream", headers=brand.headers,
                         json=body(assistant_id, "明天下午3点可以来面诊吗？我叫王芳，电话13912345678")) as response:
            assert response.status_code == 200
            events = sse_events(response.read().decode())
        assert events[0][0] == "run.started" and events[-1][0] == "run.completed"
        assert len([name for name, _ in events if name == "agent.completed"]) == 7
        second = events[-1][1]
        assert "".join(data["delta"] for name, data in events if name == "message.delta") == second["response"]
        assert second["invitation"]["status"] == 1 and second["invitation"]["phone"] == "13912345678"
        assert any("过敏" in m["memory"]["text"] for m in second["agents"]["memory"]["output"]["memories"])

        accepted = brand.call("POST", f"{runs}/async", 202, json=body(assistant_id, "热玛吉大概多少钱？"))
        assert until(finished(brand, thread_id, accepted["run_id"]))["status"] == "completed"
        third = brand.call("GET", f"{runs}/{accepted['run_id']}")["result"]
        assert "射频紧致提升" in third["response"]
        assert len(brand.call("GET", f"/v1/threads/{thread_id}/messages")["messages"]) == 6

        scripted = brand.assistant(model="scripted-llm")
        rewritten = brand.call("POST", f"/v1/threads/{brand.thread(scripted)}/runs/wait", json=body(scripted, "水光针效果怎么样？"))
        for claim in ("最好", "保证", "无副作用"):
            assert claim not in rewritten["response"]
        assert "欢迎来店面诊" in rewritten["response"] and rewritten["model"] == "scripted-llm"
        assert rewritten["agents"]["compliance"]["output"]["output"]["verdict"] == "rewritten"


def test_an_async_run_completes_after_the_process_executing_it_is_killed(service: Running) -> None:
    with httpx.Client(base_url=service.api, timeout=60) as http:
        brand = Brand(service, http, "graph-crash")
        slow = brand.assistant(model="slow-chat")
        thread_id = brand.thread(slow)
        accepted = brand.call("POST", f"/v1/threads/{thread_id}/runs/async", 202, json=body(slow, "你好，想咨询一下"))
        status_url = f"/v1/threads/{thread_id}/runs/{accepted['run_id']}/status"
        until(lambda: brand.call("GET", status_url)["status"] == "running")

        (replica,) = service.serve_details()["deployments"]["RunWorker"]["replicas"]
        os.kill(replica["pid"], signal.SIGKILL)  # the worker executing the run dies mid-run

        done = until(finished(brand, thread_id, accepted["run_id"]), timeout_s=120)
        assert done["status"] == "completed", done
        record = brand.call("GET", f"/v1/threads/{thread_id}/runs/{accepted['run_id']}")
        assert record["attempts"] == 2 and record["result"]["response"]
        messages = brand.call("GET", f"/v1/threads/{thread_id}/messages")["messages"]
        assert [m["role"] for m in messages] == ["assistant", "user"]  # stored once, not once per attempt
        new_replica = until(lambda: service.serve_details()["deployments"]["RunWorker"]["replicas"])
        assert new_replica[0]["pid"] != replica["pid"]


def _drop_after(service: Running, brand: Brand, path: str, payload: dict[str, Any], delay_s: float, until_seen: bytes) -> None:
    """POSTs over a raw socket and closes it ``delay_s`` after sending, or once ``until_seen`` arrives."""
    host, port = service.api.removeprefix("http://").split(":")
    data = json.dumps(payload).encode()
    head = "".join(f"{name}: {value}\r\n" for name, value in brand.headers.items())
    request = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{head}Content-Type: application/json\r\n"
               f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode() + data
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        received = b""
        deadline = time.monotonic() + delay_s
        while until_seen and until_seen not in received:
            chunk = sock.recv(4096)
            assert chunk, f"the stream ended before {until_seen!r}: {received[-500:]!r}"
            received += chunk
        time.sleep(max(0.0, deadline - time.monotonic()))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST, not FIN


# (mode, seconds after sending, SSE text to wait for first): ten disconnects at different moments of a turn.
# A wait request dropped sooner than ACCEPTED_BY_S may not have reached the Ingress's handler on a busy machine.
ACCEPTED_BY_S = 0.1
DROPS = [("wait", 0.05, b""), ("wait", 0.2, b""), ("wait", 0.4, b""), ("wait", 0.6, b""), ("wait", 1.0, b""),
         ("stream", 0.0, b"run.started"), ("stream", 0.0, b"agent.completed"), ("stream", 0.1, b"agent.completed"),
         ("stream", 0.0, b"message.delta"), ("stream", 0.3, b"message.delta")]


def test_a_client_that_disconnects_never_loses_its_turn(service: Running) -> None:
    """The run goes on without its client: the turn is stored once and the thread is free when the run ends."""
    with httpx.Client(base_url=service.api, timeout=60) as http:
        brand = Brand(service, http, "graph-drops")
        paced = brand.assistant(model="paced-chat")
        threads = []
        for index, (mode, delay_s, until_seen) in enumerate(DROPS):
            thread_id = brand.thread(paced)
            _drop_after(service, brand, f"/v1/threads/{thread_id}/runs/{mode}", body(paced, f"第{index}条：想了解补水项目"),
                        delay_s, until_seen)
            threads.append(thread_id)

        for index, thread_id in enumerate(threads):
            if DROPS[index][1] < ACCEPTED_BY_S and not brand.call("GET", f"/v1/threads/{thread_id}/runs")["runs"]:
                # Dropped before the Ingress took the turn (seconds after the other drops, no run exists): the request
                # was lost, as one the network dropped, not a turn; the client retries it (Idempotency-Key).
                assert brand.call("GET", f"/v1/threads/{thread_id}/messages")["messages"] == [], DROPS[index]
                brand.call("POST", f"/v1/threads/{thread_id}/runs/wait", json=body(paced, "那价格呢？"))
                continue
            messages = until(lambda: (found := brand.call("GET", f"/v1/threads/{thread_id}/messages")["messages"])
                             and len(found) >= 2 and found, timeout_s=60)
            assert [m["role"] for m in messages] == ["assistant", "user"], (DROPS[index], messages)
            assert messages[1]["content"] == f"第{index}条：想了解补水项目" and messages[0]["content"]
            run_id = messages[0]["run_id"]
            assert brand.call("GET", f"/v1/threads/{thread_id}/runs/{run_id}/status")["status"] == "completed"
            # Free at once, not when the lease expires: the next turn is answered, not refused as THREAD_BUSY.
            brand.call("POST", f"/v1/threads/{thread_id}/runs/wait", json=body(paced, "那价格呢？"))


def test_a_second_message_interrupts_a_slow_stream_which_is_resumed_and_a_cancel_aborts_another(service: Running) -> None:
    """Interrupt, resume and cancel on Serve: the slow run stops at once, the thread is free, nothing of it is
    half-stored, and its stream can be resumed after the last event a client saw."""
    with httpx.Client(base_url=service.api, timeout=60) as http:
        brand = Brand(service, http, "graph-control")
        assert brand.call("POST", "/v1/products/import", json=CATALOG)["failed"] == []
        assistant_id = brand.assistant()
        thread_id = brand.thread(assistant_id)
        runs = f"/v1/threads/{thread_id}/runs"
        slow = {**body(assistant_id, "想了解一下热玛吉"), "model": "slow-chat"}
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            def stream() -> str:
                with http.stream("POST", f"{runs}/stream", headers=brand.headers, json=slow) as response:
                    return response.read().decode()

            streamed = pool.submit(stream)
            until(lambda: brand.call("GET", f"/v1/threads/{thread_id}")["status"] == "RUNNING")
            started = time.monotonic()
            second = brand.call("POST", f"{runs}/wait", json={**body(assistant_id, "价格大概多少"), "multitask_strategy": "interrupt"})
            events = sse_events(streamed.result(timeout=30))
            assert events[-1][0] == "run.cancelled" and events[-1][1]["error"]["details"]["run_id"] == second["run_id"]
        assert time.monotonic() - started < 6  # sooner than the slow run's first token: it was never waited for
        assert "射频紧致提升" in second["response"]  # it answered the interrupted message too
        messages = brand.call("GET", f"/v1/threads/{thread_id}/messages")["messages"]
        assert [(m["role"], m["content"]) for m in reversed(messages)] == [
            ("user", "想了解一下热玛吉"), ("user", "价格大概多少"), ("assistant", second["response"])]
        # A client that lost the interrupted stream after its first event resumes it, through the Ingress.
        interrupted = events[0][1]["run_id"]
        resumed = http.get(f"{runs}/{interrupted}/stream", headers={**brand.headers, "Last-Event-ID": "1"})
        assert sse_events(resumed.text) == events[1:]
        joined = http.get(f"{runs}/{second['run_id']}/stream", headers=brand.headers)
        assert sse_events(joined.text)[-1] == ("run.completed", second)

        with http.stream("POST", f"{runs}/stream", headers=brand.headers, json=slow) as response:
            lines = response.iter_lines()
            started_event = next(json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: "))
            assert brand.call("POST", f"{runs}/{started_event['run_id']}/cancel")["status"] == "cancelled"
            events = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
        assert events[-1] == "run.cancelled"
        assert brand.call("GET", f"/v1/threads/{thread_id}")["status"] == "IDLE"
        assert len(brand.call("GET", f"/v1/threads/{thread_id}/messages")["messages"]) == 3  # nothing of it stored

        # Messages that race on one thread, enqueued: every one answered, none twice.
        texts = [f"第{index}个问题：补水项目" for index in range(4)]
        with concurrent.futures.ThreadPoolExecutor(len(texts)) as pool:
            answers = list(pool.map(lambda text: http.post(f"{runs}/wait", headers=brand.headers, json={
                **body(assistant_id, text), "multitask_strategy": "enqueue"}), texts))
        assert [answer.status_code for answer in answers] == [200] * len(texts), [answer.text for answer in answers]
        said = list(reversed(brand.call("GET", f"/v1/threads/{thread_id}/messages", params={"limit": 50})["messages"]))[3:]
        assert [m["role"] for m in said] == ["user", "assistant"] * len(texts)
        assert sorted(m["content"] for m in said if m["role"] == "user") == sorted(texts)


def test_the_social_agent_serves_through_the_ingress(service: Running) -> None:
    """Social-media copy, a customer profile and a templates reload, each through its own ``Social`` deployment."""
    with httpx.Client(base_url=service.api, timeout=60) as http:
        brand = Brand(service, http, "social-brand")
        assert brand.call("POST", "/v1/products/import", json=CATALOG)["failed"] == []
        post = {"product_content": "刚做完水光针一周，补水效果不错", "likes_num": 200, "replies_num": 12}
        comment = brand.call("POST", "/v1/social-media/comment", json={"platform": "douyin", "task": post})
        assert {2, 3} <= set(comment["actions"]) and 0 < len(comment["message"]) <= 60 and comment["model"] == "offline"
        assistant_id = brand.assistant()
        thread_id = brand.thread(assistant_id)
        brand.call("POST", f"/v1/threads/{thread_id}/runs/wait", json=body(assistant_id, "我对酒精过敏，预算3000左右，想做水光针"))
        profile = brand.call("POST", f"/v1/threads/{thread_id}/profile")["profile"]
        assert any("酒精" in allergy for allergy in profile["allergies"]) and profile["budget"]["max_cny"] >= 3000
        assert brand.call("POST", "/v1/social-media/reload-prompt", json={"method": "all"})["version"]
        assert service.serve_details()["deployments"]["Social"]["status"] == "HEALTHY"


def test_the_ingress_serves_the_console_and_checks_copy_with_the_brands_own_rules(service: Running) -> None:
    """The console's files come from the Ingress with their CSP; a brand's forbidden word set through the API is flagged
    by the Compliance deployment, through the Ingress's second-opinion wrapper (off: no model call)."""
    with httpx.Client(base_url=service.api, timeout=60) as http:
        page = http.get("/console/")
        assert page.status_code == 200 and "js/app.js" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert http.get("/console/js/pages/compliance.js").status_code == 200
        brand = Brand(service, http, "rules-brand")
        brand.call("PUT", "/v1/compliance/rules", json={"forbidden": [{"term": "焕颜宝"}], "allowed": []})
        checked = brand.call("POST", "/v1/compliance/check", json={"text": "比焕 颜 宝好用多了。", "channel": "ad"})
        assert {v["rule_id"] for v in checked["violations"]} >= {"brand.焕颜宝"} and checked["second_opinion"] is None


def _comment_items(path: Path, count: int) -> list[dict[str, Any]]:
    items = [{"product_prompt": "光彩医美，主打水光针", "task": {"product_content": f"水光针第{i}天，补水效果不错", "likes_num": i}}
             for i in range(count)]
    path.write_text("\n".join(json.dumps(item, ensure_ascii=False) for item in items), encoding="utf-8")
    return items


def test_a_batch_of_200_comments_runs_to_completion_followed_by_the_cli(service: Running, tmp_path: Path) -> None:
    """``mas batch submit --follow``: items run as Ray tasks calling the Social deployment; the CLI draws the progress."""
    _comment_items(tmp_path / "posts.jsonl", 200)
    with httpx.Client(base_url=service.api, timeout=60) as http:
        Brand(service, http, "batch-brand")
    key = (service.data_dir / "dev_app_key").read_text().strip()
    cli = subprocess.run([sys.executable, "-m", "mas.cli", "batch", "submit", str(tmp_path / "posts.jsonl"), "--kind",
                          "social.comment", "--follow", "--api", service.api, "--key", key, "--tenant", "batch-brand"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "120"})
    assert cli.returncode == 0, cli.stdout[-2000:] + cli.stderr[-2000:]
    assert "200/200" in cli.stdout
    final = json.loads(cli.stdout.strip().splitlines()[-1])
    assert (final["state"], final["done"], final["failed"]) == ("completed", 200, 0)


def test_a_batch_survives_a_sigkill_of_its_driver_without_redoing_or_losing_items(service: Running, tmp_path: Path) -> None:
    items = _comment_items(tmp_path / "posts.jsonl", 120)
    with httpx.Client(base_url=service.api, timeout=60) as http:
        brand = Brand(service, http, "batch-crash")
        batch_id = brand.call("POST", "/v1/batches", 202, json={"kind": "social.comment", "items": items})["batch_id"]
        until(lambda: brand.call("GET", f"/v1/batches/{batch_id}")["done"] >= 8)
        (replica,) = service.serve_details()["deployments"]["BatchDriver"]["replicas"]
        os.kill(replica["pid"], signal.SIGKILL)  # the driver dies with chunks in flight (its Ray tasks die with it)

        progress = until(lambda: (p := brand.call("GET", f"/v1/batches/{batch_id}"))["state"] == "completed" and p, timeout_s=180)
        lines = [json.loads(line) for line in http.get(f"/v1/batches/{batch_id}/results", headers=brand.headers).text.splitlines()]
        assert (progress["done"], progress["failed"]) == (120, 0), [line for line in lines if not line["ok"]][:3]
        assert [line["index"] for line in lines] == list(range(120)) and all(line["ok"] for line in lines)
        assert until(lambda: [r for r in service.serve_details()["deployments"]["BatchDriver"]["replicas"]
                              if r.get("pid") not in (None, replica["pid"])])  # the driver that finished it is a new one


RUN_QUEUE = r'ray_mas_queue_depth\{[^}]*deployment="RunWorker"[^}]*queue="runs"'
BATCH_QUEUE = r'ray_mas_queue_depth\{[^}]*deployment="BatchDriver"[^}]*queue="batch_items"'


def _series(exposition: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` in a Prometheus exposition whose labels include ``labels``."""
    total = 0.0
    for line in exposition.splitlines():
        metric, _, rest = line.partition("{")
        if metric != name:
            continue
        label_text, _, value = rest.rpartition("} ")
        pairs = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', label_text))
        if labels.items() <= pairs.items():
            total += float(value)
    return total


def test_the_mas_metrics_reach_rays_prometheus_endpoint_and_each_run_logs_one_line(service: Running) -> None:
    with httpx.Client(base_url=service.api, timeout=60) as http:
        brand = Brand(service, http, "metrics-brand")
        assistant_id = brand.assistant()
        thread_id = brand.thread(assistant_id)
        for text in ("我想补水，皮肤干燥", "效果是全国最好的吗？"):
            brand.call("POST", f"/v1/threads/{thread_id}/runs/wait", json=body(assistant_id, text),
                       headers={"X-Request-ID": "metrics-req-1"})

    last = {"text": ""}
    queues_seen: set[str] = set()

    def scraped() -> str | None:
        last["text"] = text = httpx.get(service.metrics, timeout=10).text
        done = _series(text, "ray_mas_runs_total", tenant="metrics-brand", outcome="completed", deployment="Ingress")
        # Sampled every 5 s by their pollers, each in its own phase; Ray drops a gauge two report intervals (here 2 s)
        # after its last report, so each shows in some scrapes, not necessarily both in the same one.
        queues_seen.update(queue for queue in (RUN_QUEUE, BATCH_QUEUE) if re.search(queue, text))
        return text if done >= 2 and len(queues_seen) == 2 else None

    def runs_and_queues() -> str:
        return f"; queue gauges seen: {sorted(queues_seen)}; last scrape: " + " | ".join(line for line in last["text"].splitlines()
                                            if line.startswith(("ray_mas_runs_total", "ray_mas_queue_depth")))

    text = until(scraped, timeout_s=180, every_s=1, seen=runs_and_queues)
    assert _series(text, "ray_mas_agent_latency_seconds_count", agent="sales", status="ok", deployment="Workflow") >= 2
    assert _series(text, "ray_mas_llm_requests_total", outcome="ok", lane="live", deployment="LLMRouter") >= 2
    assert _series(text, "ray_mas_llm_tokens_total", direction="output", deployment="LLMRouter") > 0
    assert _series(text, "ray_mas_compliance_verdicts_total", direction="input", channel="chat", deployment="Compliance") >= 2
    assert _series(text, "ray_mas_run_phase_seconds_count", phase="first_token", mode="wait") >= 2
    assert not re.search(r'ray_mas_\w+\{[^}]*tenant="(?!metrics-brand|other)', text), "only allow-listed tenants get a label"

    lines = until(lambda: [line for line in service.log.read_text(errors="replace").splitlines()
                           if '"run.finished"' in line and "metrics-req-1" in line] or None, timeout_s=30)
    assert len(lines) == 2 and all('"tenant_id": "metrics-brand"' in line and "Ingress" in line for line in lines)
