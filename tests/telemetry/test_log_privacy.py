"""No log line shows a customer's personal data: the in-process app driven through turns, thread profiles, bad requests
and failures (the provider, the memory write, the database), with every logger at DEBUG, as an operator reads it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from llm.errors import ProviderServerError
from llm.providers.base import ProviderRequest
from llm.providers.offline import OfflineProvider
from memory.service import MemoryService
from store.threads import ThreadStore
from tests.api.test_runs import Chat, eventually, new_chat
from tests.client import ApiClient, assert_error

PHONE, ID_NUMBER, EMAIL = "13812345678", "110101199003071234", "zhang.meili@example.com"
REAL_NAME, NICKNAME, ALLERGY = "张美丽", "Meili_Z", "青霉素过敏"
PERSONAL = (PHONE, ID_NUMBER, EMAIL, REAL_NAME, NICKNAME, ALLERGY)
TURN = f"我叫{REAL_NAME}，手机{PHONE}，身份证{ID_NUMBER}，邮箱{EMAIL}，我对{ALLERGY}，想做水光针"
PROFILE = {"real_name": REAL_NAME, "nickname": NICKNAME, "phone": PHONE}


class OperatorLog(logging.Handler):
    """What an operator's terminal shows: every record of every logger, formatted (exception text included) as it
    is emitted. Attached to the root before the app starts, like uvicorn's or a replica's handler."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)

    def assert_nothing_personal(self) -> None:
        shown = self.text()
        assert self.lines, "nothing was logged: the test would prove nothing"
        assert [value for value in PERSONAL if value in shown] == [], shown[-3000:]


@pytest.fixture
def operator_log() -> Iterator[OperatorLog]:
    root = logging.getLogger()
    handler, level = OperatorLog(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
async def chat(operator_log: OperatorLog, tenant_a: ApiClient) -> Chat:
    """A chat of tenant-a; requested after ``operator_log``, so the app starts with that handler configured."""
    return await new_chat(tenant_a)


async def profiled_thread(chat: Chat) -> Chat:
    thread = await chat.client.expect(201, "POST", "/v1/threads", json={"assistant_id": chat.assistant_id, **PROFILE})
    return Chat(chat.client, chat.assistant_id, thread["thread_id"])


async def test_turns_and_profiles_log_ids_not_personal_data(chat: Chat, operator_log: OperatorLog) -> None:
    chat = await profiled_thread(chat)
    assert (await chat.wait(TURN))["status"] == "completed"
    async with chat.client.http.stream("POST", chat.url("runs/stream"), json=chat.body(f"{REAL_NAME}还想问价格"),
                                       headers=chat.client.headers) as response:
        assert response.status_code == 200 and "run.completed" in "".join([line async for line in response.aiter_lines()])
    accepted = await chat.client.expect(202, "POST", chat.url("runs/async"), json=chat.body(f"电话{PHONE}，{ALLERGY}"))

    async def finished() -> bool:
        status = await chat.client.expect(200, "GET", chat.url(f"runs/{accepted['run_id']}/status"))
        return status["status"] in ("completed", "failed")

    await eventually(finished)
    await chat.client.expect(200, "POST", chat.url("profile"))
    await chat.client.expect(200, "POST", chat.url("info"), json={"real_name": REAL_NAME, "metadata": {"email": EMAIL}})
    operator_log.assert_nothing_personal()
    assert operator_log.text().count('"event": "run.finished"') == 3  # the per-run lines are there, with their ids


async def test_rejected_requests_log_nothing_personal(chat: Chat, operator_log: OperatorLog) -> None:
    bad_phone = {"assistant_id": chat.assistant_id, "real_name": REAL_NAME, "phone": f"{PHONE}（{ALLERGY}）"}
    assert_error(await chat.client.post("/v1/threads", json=bad_phone), 422, "VALIDATION_ERROR")
    bad_run = {**chat.body(TURN), "surprise": {"id_number": ID_NUMBER, "email": EMAIL, "nickname": NICKNAME}}
    assert_error(await chat.client.post(chat.url("runs/wait"), json=bad_run), 422, "VALIDATION_ERROR")
    assert_error(await chat.client.post(chat.url("runs/wait"), content=TURN.encode(),
                                        headers={"content-type": "application/json"}), 422, "VALIDATION_ERROR")
    assert_error(await chat.client.get("/v1/products/search", params={"q": TURN, "k": "many"}), 422, "VALIDATION_ERROR")
    operator_log.assert_nothing_personal()


async def test_a_provider_error_quoting_the_prompt_is_logged_by_type(chat: Chat, operator_log: OperatorLog,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    async def rejecting(self: OfflineProvider, request: ProviderRequest) -> Any:
        raise ProviderServerError(f"HTTP 400: content policy rejected: {request.messages[-1].content}", status=400)
        yield  # an async generator, like the provider's stream

    monkeypatch.setattr(OfflineProvider, "stream", rejecting)
    chat = await profiled_thread(chat)
    response = await chat.client.post(chat.url("runs/wait"), json=chat.body(TURN))
    assert response.status_code >= 500
    assert "ProviderServerError (HTTP status 400)" in operator_log.text()  # the failure is still there to see
    operator_log.assert_nothing_personal()


async def test_a_failed_memory_write_is_logged_with_its_traceback_masked(chat: Chat, operator_log: OperatorLog,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    async def failing(self: MemoryService, tenant_id: str, thread_id: str, messages: list[Any]) -> Any:
        # As a store's error may quote the key or the row it could not write.
        raise ConnectionError(f"could not write memory:{tenant_id}:{PHONE}:{ID_NUMBER} for {EMAIL}")

    monkeypatch.setattr(MemoryService, "remember_turn", failing)
    chat = await profiled_thread(chat)
    await chat.wait(TURN)

    async def failure_logged() -> bool:
        return "memory write after run" in operator_log.text()

    await eventually(failure_logged)  # the write runs in the background, after the reply
    assert "ConnectionError: could not write memory:tenant-a:[手机号]:[身份证号] for [邮箱]" in operator_log.text()
    operator_log.assert_nothing_personal()


async def test_a_database_error_names_its_statement_not_its_values(chat: Chat, operator_log: OperatorLog,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken_create(self: ThreadStore, tenant_id: str, fields: dict[str, Any]) -> Any:
        async with self._sessions.begin() as session:  # a real driver error, with the thread's fields bound
            await session.execute(text("INSERT INTO no_such_table (real_name, phone, note) VALUES (:real_name, :phone, :note)"),
                                  {"real_name": fields.get("real_name"), "phone": fields.get("phone"), "note": TURN})

    monkeypatch.setattr(ThreadStore, "create", broken_create)
    response = await chat.client.post("/v1/threads", json={"assistant_id": chat.assistant_id, **PROFILE})
    assert_error(response, 500, "INTERNAL_ERROR")
    assert "no_such_table" in operator_log.text() and "unhandled error" in operator_log.text()
    operator_log.assert_nothing_personal()
