"""Conversation control over HTTP on SQLite and PostgreSQL: a second message while a run is active (multitask
strategies), run cancel, and joining or resuming a run's stream (``Last-Event-ID``).

The active run is made slow with the ``simulated`` model (its first token after ``SLOW_S``); the runs that follow it
use the offline LLM and answer at once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import delete

from agents.handoff import DEFAULT_CONFIG as DEFAULT_HANDOFF
from runs.run_events import RunEvents
from runtime import components
from runtime.settings import Settings
from store.models import RunEventRow
from tests.api.test_runs import Chat, eventually, new_chat, sse_events
from tests.client import ApiClient, assert_error

SLOW_S = 3.0


@pytest.fixture
def settings(tmp_path: Path, empty_database: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=empty_database, jwt_secret="test-secret-" + "x" * 52,
                    simulated_ttft_ms=SLOW_S * 1000, simulated_output_tokens=5, simulated_tokens_per_s=1000,
                    worker_poll_seconds=0.1)


@pytest.fixture
async def chat(tenant_a: ApiClient) -> Chat:
    return await new_chat(tenant_a)


async def slow(chat: Chat, text: str, path: str = "runs/wait", **extra: Any) -> asyncio.Task[httpx.Response]:
    """A run on the simulated model, sent in the background; returns once it holds the thread."""
    task = asyncio.create_task(chat.client.post(chat.url(path), json=chat.body(text, model="simulated", **extra)))
    await eventually(lambda: _holder(chat))
    return task


async def _holder(chat: Chat) -> str | None:
    thread = await chat.client.expect(200, "GET", f"/v1/threads/{chat.thread_id}")
    if thread["status"] != "RUNNING":
        return None
    run = await chat.client.services.runs.holder("tenant-a", chat.thread_id)
    return run.run_id if run else None


async def transcript(chat: Chat) -> list[tuple[str, str]]:
    messages = (await chat.client.expect(200, "GET", chat.url("messages"), params={"limit": 50}))["messages"]
    return [(m["role"], m["content"]) for m in reversed(messages)]


async def test_reject_is_the_default_a_second_run_gets_409_and_the_first_is_untouched(chat: Chat) -> None:
    first = await slow(chat, "想了解一下热玛吉")
    assert_error(await chat.client.post(chat.url("runs/wait"), json=chat.body("在吗")), 409, "THREAD_BUSY")
    assert_error(await chat.client.post(chat.url("runs/async"), json=chat.body("在吗")), 409, "THREAD_BUSY")
    assert (await first).status_code == 200
    assert [role for role, _ in await transcript(chat)] == ["user", "assistant"]


async def test_enqueued_runs_answer_after_the_active_one_in_the_order_they_came(chat: Chat) -> None:
    first = await slow(chat, "第一条")
    later = []
    for text in ("第二条", "第三条", "第四条"):
        later.append(asyncio.create_task(chat.client.post(chat.url("runs/wait"), json=chat.body(text, multitask_strategy="enqueue"))))
        await asyncio.sleep(0.2)  # each has joined the line before the next is sent
    responses = [await first, *[await task for task in later]]
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    said = await transcript(chat)
    assert [text for role, text in said if role == "user"] == ["第一条", "第二条", "第三条", "第四条"]
    assert [role for role, _ in said] == ["user", "assistant"] * 4  # none lost, none answered twice


async def test_an_enqueued_run_gives_up_with_409_after_the_enqueue_limit(chat: Chat) -> None:
    chat.client.services.multitask._enqueue_s = 0.5  # a test's short limit instead of MAS_RUN_ENQUEUE_SECONDS
    first = await slow(chat, "第一条")
    response = await chat.client.post(chat.url("runs/wait"), json=chat.body("第二条", multitask_strategy="enqueue"))
    assert_error(response, 409, "THREAD_BUSY")
    assert (await first).status_code == 200
    assert [text for role, text in await transcript(chat) if role == "user"] == ["第一条"]


async def test_interrupt_cancels_the_active_run_keeps_its_message_and_answers_both(chat: Chat) -> None:
    first = await slow(chat, "想了解一下热玛吉，我对酒精过敏")
    interrupted = await _holder(chat)
    started = asyncio.get_running_loop().time()
    second = await chat.wait("价格大概多少", multitask_strategy="interrupt")
    assert asyncio.get_running_loop().time() - started < SLOW_S / 2  # it did not wait for the slow reply
    error = assert_error(await first, 409, "RUN_CANCELLED")
    assert error["details"] == {"by": "interrupt", "run_id": second["run_id"]}
    assert "射频紧致提升" in second["response"]  # 热玛吉 was in the interrupted message only
    assert await transcript(chat) == [("user", "想了解一下热玛吉，我对酒精过敏"), ("user", "价格大概多少"),
                                      ("assistant", second["response"])]
    record = await chat.client.expect(200, "GET", chat.url(f"runs/{interrupted}"))
    assert record["status"] == "cancelled" and record["result"] is None
    found = await eventually(lambda: _memories(chat, "酒精过敏"))
    assert any("酒精" in hit["text"] for hit in found)  # the interrupted message's fact was remembered


async def _memories(chat: Chat, query: str) -> list[dict[str, Any]]:
    body = await chat.client.expect(200, "GET", "/v1/memory/search", params={"q": query, "thread_id": chat.thread_id})
    return [hit for hit in body["results"] if hit["memory_type"] == "episodic"]


async def test_rollback_cancels_the_active_run_and_drops_its_message(chat: Chat) -> None:
    first = await slow(chat, "想了解一下热玛吉")
    second = await chat.wait("你好", multitask_strategy="rollback")
    assert assert_error(await first, 409, "RUN_CANCELLED")["details"] == {"by": "rollback", "run_id": second["run_id"]}
    assert "射频紧致提升" not in second["response"]
    assert await transcript(chat) == [("user", "你好"), ("assistant", second["response"])]


async def test_cancel_aborts_a_stream_frees_the_thread_at_once_and_stores_nothing(chat: Chat) -> None:
    stream = await slow(chat, "想了解一下热玛吉", path="runs/stream")
    run_id = await _holder(chat)
    started = asyncio.get_running_loop().time()
    status = await chat.client.expect(200, "POST", chat.url(f"runs/{run_id}/cancel"))
    assert status["status"] == "cancelled" and status["error"]["code"] == "RUN_CANCELLED"
    events = sse_events((await stream).text)
    assert asyncio.get_running_loop().time() - started < SLOW_S / 2  # the generation was not waited for
    assert events[-1][0] == "run.cancelled" and events[-1][1]["run_id"] == run_id
    assert (await chat.client.expect(200, "GET", f"/v1/threads/{chat.thread_id}"))["status"] == "IDLE"
    assert not chat.client.services.executor._executing  # nothing of the run executes any more
    assert await transcript(chat) == []
    assert (await chat.wait("你好"))["status"] == "completed"
    again = await chat.client.expect(200, "POST", chat.url(f"runs/{run_id}/cancel"))
    assert again["status"] == "cancelled"  # cancelling twice is harmless
    record = await chat.client.expect(200, "GET", chat.url(f"runs/{run_id}"))
    assert record["status"] == "cancelled" and record["result"] is None


async def test_cancel_of_a_finished_unknown_or_foreign_run(chat: Chat, tenant_b: ApiClient) -> None:
    done = await chat.wait("你好")
    error = assert_error(await chat.client.post(chat.url(f"runs/{done['run_id']}/cancel")), 409, "RUN_FINISHED")
    assert error["details"] == {"status": "completed"}
    assert_error(await chat.client.post(chat.url("runs/nope/cancel")), 404, "RUN_NOT_FOUND")
    assert_error(await tenant_b.post(chat.url(f"runs/{done['run_id']}/cancel")), 404, "RUN_NOT_FOUND")


async def test_a_queued_async_run_that_is_cancelled_never_runs(chat: Chat) -> None:
    first = await slow(chat, "第一条")
    queued = await chat.client.expect(202, "POST", chat.url("runs/async"),
                                      json=chat.body("第二条", multitask_strategy="enqueue"))
    cancelled = await chat.client.expect(200, "POST", chat.url(f"runs/{queued['run_id']}/cancel"))
    assert cancelled["status"] == "cancelled"
    assert (await first).status_code == 200
    await asyncio.sleep(0.5)  # the worker polls every 0.1 s
    assert [text for role, text in await transcript(chat) if role == "user"] == ["第一条"]
    assert (await chat.client.expect(200, "GET", chat.url(f"runs/{queued['run_id']}/status")))["status"] == "cancelled"


async def test_an_async_run_may_interrupt_the_active_one(chat: Chat) -> None:
    first = await slow(chat, "想了解一下热玛吉")
    queued = await chat.client.expect(202, "POST", chat.url("runs/async"),
                                      json=chat.body("价格大概多少", multitask_strategy="interrupt"))
    assert assert_error(await first, 409, "RUN_CANCELLED")["details"]["run_id"] == queued["run_id"]

    async def finished() -> dict[str, Any] | None:
        record = await chat.client.expect(200, "GET", chat.url(f"runs/{queued['run_id']}"))
        return record if record["status"] == "completed" else None

    record = await eventually(finished)
    assert "射频紧致提升" in record["result"]["response"]


async def test_the_assistant_sets_the_default_strategy_and_a_run_may_override_it(chat: Chat) -> None:
    assistant = await chat.client.expect(200, "PUT", f"/v1/assistants/{chat.assistant_id}",
                                         json={"multitask_strategy": "rollback"})
    assert assistant["multitask_strategy"] == "rollback"
    first = await slow(chat, "第一条")
    assert_error(await chat.client.post(chat.url("runs/wait"), json=chat.body("第二条", multitask_strategy="reject")),
                 409, "THREAD_BUSY")
    second = await chat.wait("第三条")  # the assistant's rollback
    assert assert_error(await first, 409, "RUN_CANCELLED")["details"]["by"] == "rollback"
    assert [text for role, text in await transcript(chat) if role == "user"] == ["第三条"]
    assert second["status"] == "completed"


async def test_the_openai_endpoint_takes_the_strategy_from_a_header(chat: Chat) -> None:
    first = await slow(chat, "想了解一下热玛吉")
    body = {"model": chat.assistant_id, "messages": [{"role": "user", "content": "价格大概多少"}]}
    headers = {"X-MAS-Thread-ID": chat.thread_id}
    assert_error(await chat.client.post("/v1/chat/completions", json=body, headers=headers), 409, "THREAD_BUSY")
    answer = await chat.client.expect(200, "POST", "/v1/chat/completions", json=body,
                                      headers={**headers, "X-MAS-Multitask-Strategy": "interrupt"})
    assert "射频紧致提升" in answer["choices"][0]["message"]["content"]
    assert_error(await first, 409, "RUN_CANCELLED")
    response = await chat.client.post("/v1/chat/completions", json=body,
                                      headers={**headers, "X-MAS-Multitask-Strategy": "merge-everything"})
    assert response.status_code == 422


@pytest.mark.parametrize("strategy", ["", "REJECT", "interrupt ", 1, None])
async def test_unknown_strategies_get_422(chat: Chat, strategy: Any) -> None:
    if strategy is None:
        response = await chat.client.post(chat.url("runs/wait"), json=chat.body("你好", multitask_strategy={"a": 1}))
    else:
        response = await chat.client.post(chat.url("runs/wait"), json=chat.body("你好", multitask_strategy=strategy))
    assert_error(response, 422, "VALIDATION_ERROR")


async def test_racing_interrupts_cancel_only_the_run_before_them_and_are_all_answered(chat: Chat) -> None:
    first = await slow(chat, "第一条")
    texts = [f"追问{i}" for i in range(4)]
    responses = await asyncio.gather(*(chat.client.post(chat.url("runs/wait"), json=chat.body(text, multitask_strategy="interrupt"))
                                       for text in texts))
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    assert_error(await first, 409, "RUN_CANCELLED")
    said = await transcript(chat)
    assert sorted(text for role, text in said if role == "user") == sorted(["第一条", *texts])  # each once
    replies = [text for role, text in said if role == "assistant"]
    assert sorted(replies) == sorted(r.json()["response"] for r in responses)  # one stored reply per answered run
    assert said[-1][0] == "assistant" and said[0] == ("user", "第一条")


def frames(text: str) -> list[tuple[int, str, dict[str, Any]]]:
    """(id, event, data) of each SSE frame."""
    out = []
    for frame in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines())
        out.append((int(lines["id"]), lines["event"], lines["data"]))
    return out


async def test_a_joined_stream_is_the_runs_own_stream_ids_included(chat: Chat) -> None:
    original = await slow(chat, "想了解一下热玛吉", path="runs/stream")
    run_id = await _holder(chat)
    joined = await chat.client.get(chat.url(f"runs/{run_id}/stream"))
    own = frames((await original).text)
    assert joined.status_code == 200 and joined.headers["content-type"].startswith("text/event-stream")
    assert frames(joined.text) == own
    assert [seq for seq, _, _ in own] == list(range(1, len(own) + 1))
    assert own[0][1] == "run.started" and own[-1][1] == "run.completed"


async def test_last_event_id_resumes_after_the_event_the_client_saw(chat: Chat) -> None:
    original = await slow(chat, "想了解一下热玛吉", path="runs/stream")
    run_id = await _holder(chat)
    await asyncio.sleep(0.5)  # the agents have reported: the run is at its slow first token
    resumed = await chat.client.get(chat.url(f"runs/{run_id}/stream"), headers={"Last-Event-ID": "3"})
    own = frames((await original).text)
    assert frames(resumed.text) == own[3:]


async def test_a_finished_run_is_replayed_and_a_cancelled_one_ends_cancelled(chat: Chat) -> None:
    done = await chat.wait("你好")
    events = sse_events((await chat.client.get(chat.url(f"runs/{done['run_id']}/stream"))).text)
    assert events[0][0] == "run.started" and events[-1] == ("run.completed", done)
    first = await slow(chat, "第一条")
    cancelled = await _holder(chat)
    await chat.client.expect(200, "POST", chat.url(f"runs/{cancelled}/cancel"))
    await first
    events = sse_events((await chat.client.get(chat.url(f"runs/{cancelled}/stream"))).text)
    assert events[-1][0] == "run.cancelled" and events[-1][1]["error"]["code"] == "RUN_CANCELLED"


async def test_an_async_run_can_be_joined_while_queued_and_followed_to_its_end(chat: Chat) -> None:
    first = await slow(chat, "第一条")
    queued = await chat.client.expect(202, "POST", chat.url("runs/async"),
                                      json=chat.body("想了解一下热玛吉", multitask_strategy="enqueue"))
    joined = asyncio.create_task(chat.client.get(chat.url(f"runs/{queued['run_id']}/stream")))
    await first
    events = sse_events((await joined).text)
    assert events[0][0] == "run.started" and events[-1][0] == "run.completed"
    assert "射频紧致提升" in events[-1][1]["response"]


async def test_a_process_that_did_not_run_it_follows_the_log_live(chat: Chat) -> None:
    """Another replica's view: a hub of its own over the same event log and runs table."""
    services = chat.client.services
    elsewhere = RunEvents(services.events._log, services.runs, 0.05)
    original = await slow(chat, "想了解一下热玛吉", path="runs/stream")
    run = await services.runs.holder("tenant-a", chat.thread_id)
    assert run is not None
    followed = [(event.seq, event.name) async for event in elsewhere.follow(run)]
    own = frames((await original).text)
    assert followed == [(seq, name) for seq, name, _ in own]


async def test_when_the_log_no_longer_holds_them_the_outcome_comes_from_the_run_record(chat: Chat) -> None:
    done = await chat.wait("你好")
    services = chat.client.services
    async def written() -> bool:  # the last batch is written in the background
        logged = await services.events._log.read("tenant-a", done["run_id"], 0)
        return bool(logged) and logged[-1].name == "run.completed"

    await eventually(written)
    async with services.runs._sessions.begin() as session:  # as if the TTL had passed
        await session.execute(delete(RunEventRow).where(RunEventRow.run_id == done["run_id"]))
    events = sse_events((await chat.client.get(chat.url(f"runs/{done['run_id']}/stream"))).text)
    assert events == [("run.completed", done)]


async def test_joining_unknown_or_foreign_runs_and_bad_ids(chat: Chat, tenant_b: ApiClient) -> None:
    done = await chat.wait("你好")
    assert_error(await chat.client.get(chat.url("runs/nope/stream")), 404, "RUN_NOT_FOUND")
    assert_error(await tenant_b.get(chat.url(f"runs/{done['run_id']}/stream")), 404, "RUN_NOT_FOUND")
    for bad in ("abc", "-1", "1e3", str(2**60)):
        assert_error(await chat.client.get(chat.url(f"runs/{done['run_id']}/stream"), headers={"Last-Event-ID": bad}),
                     422, "VALIDATION_ERROR")



async def _thread(chat: Chat) -> dict[str, Any]:
    return await chat.client.expect(200, "GET", f"/v1/threads/{chat.thread_id}")


async def test_a_thread_handed_to_a_person_stores_messages_without_ai_replies_until_released(chat: Chat) -> None:
    handed = await chat.client.expect(200, "POST", chat.url("handoff"), json={"reason": "VIP 客户，店长亲自跟进"})
    assert handed["status"] == "HANDOFF" and handed["handoff_reason"] == "VIP 客户，店长亲自跟进"
    again = await chat.client.expect(200, "POST", chat.url("handoff"), json={"reason": "另一个原因"})
    assert again["handoff_reason"] == "VIP 客户，店长亲自跟进" and again["handoff_at"] == handed["handoff_at"]  # the first stands
    held = await chat.wait("想了解一下热玛吉")
    assert held == {"run_id": held["run_id"], "thread_id": chat.thread_id, "status": "handoff", "response": None,
                    "handoff_reason": "VIP 客户，店长亲自跟进"}
    record = await chat.client.expect(200, "GET", chat.url(f"runs/{held['run_id']}"))
    assert record["status"] == "handoff" and record["result"]["status"] == "handoff" and record["model"] is None
    suggestion = await chat.client.expect(200, "POST", chat.url("runs/suggestion"), json=chat.body("想了解一下热玛吉"))
    assert len(suggestion["response"]) == 3  # drafts for the person, checked, nothing stored
    reply = await chat.client.expect(201, "POST", chat.url("messages"),
                                     json={"role": "assistant", "content": "您好，我是店长小王，热玛吉的情况我来为您介绍。", "author": "human"})
    assert reply["author"] == "human" and reply["role"] == "assistant"
    assert await transcript(chat) == [("user", "想了解一下热玛吉"), ("assistant", "您好，我是店长小王，热玛吉的情况我来为您介绍。")]
    streamed = sse_events((await chat.client.post(chat.url("runs/stream"), json=chat.body("好的谢谢"))).text)
    assert [name for name, _ in streamed] == ["run.started", "run.completed"] and streamed[-1][1]["status"] == "handoff"
    released = await chat.client.expect(200, "POST", chat.url("release"))
    assert released["status"] == "IDLE" and released["handoff_reason"] is None
    answered = await chat.wait("热玛吉多少钱")
    assert answered["status"] == "completed" and "射频紧致提升" in answered["response"]


@pytest.mark.parametrize(("text", "reason"), [
    ("转人工", "human_request"),
    ("我要投诉你们，再不退款我就打12315", "urgent_complaint"),
    ("打完玻尿酸三天了还是肿得厉害，有硬块", "clinical_complication"),
    ("过敏了吃什么药好", "clinical_medication"),
])
async def test_a_message_a_person_must_answer_hands_the_thread_off_with_no_llm_call(chat: Chat, text: str, reason: str) -> None:
    held = await chat.wait(text)
    assert held["status"] == "handoff" and held["response"] is None and held["handoff_reason"] == reason
    thread = await _thread(chat)
    assert thread["status"] == "HANDOFF" and thread["handoff_reason"] == reason
    assert await transcript(chat) == [("user", text)]
    assert (await chat.wait("在吗"))["status"] == "handoff"  # until a person releases it


async def test_a_customer_at_risk_gets_the_caring_reply_and_the_thread_goes_to_a_person(chat: Chat) -> None:
    result = await chat.wait("最近压力太大了，真的不想活了")
    assert result["status"] == "completed" and result["blocked"] is True and "12356" in result["response"]
    thread = await _thread(chat)
    assert thread["status"] == "HANDOFF" and thread["handoff_reason"] == "self_harm"


async def test_hand_off_rules_are_configured_per_tenant(chat: Chat, tenant_b: ApiClient, tmp_path: Path) -> None:
    config = tmp_path / "handoff.yaml"
    shipped = yaml.safe_load(DEFAULT_HANDOFF.read_text(encoding="utf-8"))
    config.write_text(yaml.safe_dump({**shipped, "tenants": {"tenant-a": ["urgent_complaint"]}}, allow_unicode=True),
                      encoding="utf-8")
    services = chat.client.services
    # What MAS_HANDOFF_CONFIG=<config> builds at start, swapped in for this test's app.
    services.executor._handoff = components.handoff_rules(services.settings.model_copy(update={"handoff_config": config}))
    assert (await chat.wait("转人工"))["status"] == "completed"  # not a hand-off for this brand
    assert (await chat.wait("我要投诉你们"))["status"] == "handoff"
    other = await new_chat(tenant_b)
    assert (await other.wait("转人工"))["status"] == "handoff"  # the default list


async def test_hand_off_and_human_replies_reject_bad_input(chat: Chat, tenant_b: ApiClient) -> None:
    assert_error(await chat.client.post(chat.url("handoff"), json={"reason": ""}), 422, "VALIDATION_ERROR")
    assert_error(await chat.client.post(chat.url("handoff"), json={"reason": "x" * 201}), 422, "VALIDATION_ERROR")
    for body in ({"role": "user", "content": "hi", "author": "human"}, {"role": "assistant", "content": "hi"},
                 {"role": "assistant", "content": "", "author": "human"}):
        assert_error(await chat.client.post(chat.url("messages"), json=body), 422, "VALIDATION_ERROR")
    assert_error(await tenant_b.post(chat.url("handoff"), json={"reason": "x"}), 404, "THREAD_NOT_FOUND")
    assert_error(await tenant_b.post(chat.url("release")), 404, "THREAD_NOT_FOUND")
    assert_error(await tenant_b.post(chat.url("messages"), json={"role": "assistant", "content": "hi", "author": "human"}),
                 404, "THREAD_NOT_FOUND")
    assert (await _thread(chat))["status"] == "IDLE"


async def _merge_window(chat: Chat, seconds: float) -> None:
    assistant = await chat.client.expect(200, "PUT", f"/v1/assistants/{chat.assistant_id}",
                                         json={"multitask_strategy": "merge", "merge_window_seconds": seconds})
    assert assistant["multitask_strategy"] == "merge" and assistant["merge_window_seconds"] == seconds


async def test_a_burst_of_messages_is_answered_by_one_run_and_every_caller_gets_it(chat: Chat) -> None:
    await _merge_window(chat, 0.5)
    texts = ["在吗", "想了解一下热玛吉", "大概多少钱"]
    callers = []
    for text in texts:
        callers.append(asyncio.create_task(chat.client.post(chat.url("runs/wait"), json=chat.body(text))))
        await asyncio.sleep(0.2)  # within the window of the message before
    streamed = sse_events((await chat.client.post(chat.url("runs/stream"), json=chat.body("有优惠吗"))).text)
    results = [(await caller).json() for caller in callers]
    assert len({result["run_id"] for result in results}) == 1 and results[0]["status"] == "completed"
    assert streamed[-1] == ("run.completed", results[0])  # the stream caller joined the same burst
    assert "射频紧致提升" in results[0]["response"]  # it read the whole burst
    record = await chat.client.expect(200, "GET", chat.url(f"runs/{results[0]['run_id']}"))
    assert [m["content"] for m in record["input"]] == [*texts, "有优惠吗"]
    assert await transcript(chat) == [*(("user", text) for text in [*texts, "有优惠吗"]), ("assistant", results[0]["response"])]
    later = await chat.wait("那我预约明天下午")  # after the window: a run of its own
    assert later["run_id"] != results[0]["run_id"]


async def test_a_burst_that_ends_while_a_run_is_active_is_answered_after_it(chat: Chat) -> None:
    await _merge_window(chat, 0.3)
    first = await slow(chat, "第一条", multitask_strategy="reject")
    burst = [asyncio.create_task(chat.client.post(chat.url("runs/wait"), json=chat.body(text))) for text in ("第二条", "第三条")]
    results = [(await task).json() for task in burst]
    assert (await first).status_code == 200
    assert results[0] == results[1] and results[0]["status"] == "completed"
    assert [role for role, _ in await transcript(chat)] == ["user", "assistant", "user", "user", "assistant"]


async def test_a_keyed_run_is_not_merged_and_bad_windows_get_422(chat: Chat) -> None:
    await _merge_window(chat, 0.3)
    keyed = await chat.client.expect(200, "POST", chat.url("runs/wait"), json=chat.body("你好"),
                                     headers={"Idempotency-Key": "k-1"})
    assert keyed["status"] == "completed"
    for seconds in (0, 5.5, "2s"):
        assert_error(await chat.client.put(f"/v1/assistants/{chat.assistant_id}", json={"merge_window_seconds": seconds}),
                     422, "VALIDATION_ERROR")
