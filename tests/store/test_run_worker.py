"""The async-run worker against a real run store (both backends) and a real local webhook receiver."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runs.webhooks import sign
from runs.worker import RunQueueWorker
from runtime.services import Services
from runtime.settings import Settings
from store.db import make_sessionmaker
from store.models import Run
from store.runs import RunStore
from tests.llm.fake_servers import FakeServer, Reply

SECRET = "whsec-test"
LEASE = 0.6


class WebhookReceiver(FakeServer):
    """A brand's webhook endpoint on a real local port; answers each POST with the next scripted status."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []

    def _app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])

    async def _hook(self, request: Request) -> Response:
        self.bodies.append(await request.body())
        reply, _ = await self._next(request)
        return Response(status_code=reply.status)


class RecordingExecutor:
    """Test double for the run executor: records each execution, then completes the run as the real one does.

    With ``hold`` it waits for that event first (a long model call) and records whether it was cancelled.
    """

    def __init__(self, store: RunStore, hold: asyncio.Event | None = None, raises: bool = False) -> None:
        self.store = store
        self.hold = hold
        self.raises = raises
        self.executed: list[str] = []
        self.cancelled: list[str] = []

    async def __call__(self, run: Run) -> None:
        self.executed.append(run.run_id)
        if self.raises:
            raise RuntimeError("the graph crashed")
        if self.hold is not None:
            try:
                await self.hold.wait()
            except asyncio.CancelledError:
                self.cancelled.append(run.run_id)
                raise
        turn = [{"role": "user", "content": run.input[0]["content"]}, {"role": "assistant", "content": "您好，在的。"}]
        await self.store.complete(
            run, result={"response": "您好，在的。"}, model="offline", input_tokens=5, output_tokens=6, cost_usd=0.0, messages=turn
        )


@pytest.fixture
def fast(settings: Settings) -> Settings:
    """Settings with tiny leases, polls and backoffs, so expiries and retries happen within a test."""
    return Settings(
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        jwt_secret=settings.jwt_secret,
        webhook_secret=SECRET,
        run_lease_seconds=LEASE,
        worker_poll_seconds=0.05,
        worker_concurrency=2,
        webhook_attempts=3,
        webhook_backoff_seconds=0.05,
        webhook_timeout_seconds=2,
    )


@pytest.fixture
def store(services: Services) -> RunStore:
    return RunStore(make_sessionmaker(services.engine))


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def dead_url() -> str:
    """A local port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/hook"


@asynccontextmanager
async def running(worker: RunQueueWorker) -> AsyncIterator[RunQueueWorker]:
    worker.start()
    worker.wake()
    try:
        yield worker
    finally:
        await worker.stop()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, "not reached in time"
        await asyncio.sleep(0.02)


async def new_thread(services: Services) -> str:
    await services.tenants.upsert("t1", {"tenant_name": "t1", "status": "ACTIVE"})
    return (await services.threads.create("t1", {})).thread_id


async def queue_run(store: RunStore, thread_id: str, webhook_url: str | None = None, text: str = "想了解热玛吉") -> Run:
    return await store.create(
        "t1", thread_id, assistant_id=None, mode="async", input=[{"role": "user", "content": text}], metadata={},
        requested_model=None, webhook_url=webhook_url, status="queued",
    )


def stored(store: RunStore, run: Run) -> Callable[[], Awaitable[Run]]:
    async def read() -> Run:
        current = await store.get(run.tenant_id, run.thread_id, run.run_id)
        assert current is not None
        return current

    return read


def holds(condition: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return condition()

    return check


def reaches(read: Callable[[], Awaitable[Run]], **expected: object) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        current = await read()
        return all(getattr(current, name) == value for name, value in expected.items())

    return check


async def test_a_queued_run_is_executed_once_and_its_signed_webhook_delivered(
    services: Services, store: RunStore, fast: Settings, receiver: WebhookReceiver
) -> None:
    thread_id = await new_thread(services)
    run = await queue_run(store, thread_id, webhook_url=f"{receiver.url}/hook")
    execute = RecordingExecutor(store)
    async with running(RunQueueWorker(store, execute, fast, fast.effective_webhook_secret)):
        await eventually(reaches(stored(store, run), webhook_status="delivered"))

    final = await stored(store, run)()
    assert (final.status, final.attempts, final.webhook_attempts) == ("completed", 1, 1)
    assert execute.executed == [run.run_id]
    assert [m.content for m in reversed(await services.threads.messages("t1", thread_id, limit=10))] == ["想了解热玛吉", "您好，在的。"]
    assert (await services.threads.get("t1", thread_id)).status == "IDLE"
    (body,), (headers,) = receiver.bodies, receiver.headers
    assert headers["x-mas-signature"] == sign(body, SECRET) and headers["x-mas-event"] == "run.completed"
    assert json.loads(body) == {"run_id": run.run_id, "thread_id": thread_id, "status": "completed"}


async def test_a_receiver_failing_twice_gets_a_third_delivery_with_the_same_id(
    services: Services, store: RunStore, fast: Settings, receiver: WebhookReceiver
) -> None:
    receiver.script(Reply.error(500), Reply.error(503), Reply(status=200))
    run = await queue_run(store, await new_thread(services), webhook_url=f"{receiver.url}/hook")
    async with running(RunQueueWorker(store, RecordingExecutor(store), fast, fast.effective_webhook_secret)):
        await eventually(reaches(stored(store, run), webhook_status="delivered"))
    final = await stored(store, run)()
    assert (len(receiver.bodies), final.webhook_attempts, final.webhook_error) == (3, 3, None)
    assert len({headers["x-mas-delivery"] for headers in receiver.headers}) == 1
    assert all(headers["x-mas-signature"] == sign(body, SECRET) for headers, body in zip(receiver.headers, receiver.bodies))


async def test_a_dead_receiver_ends_failed_after_the_configured_attempts(
    services: Services, store: RunStore, fast: Settings, dead_url: str
) -> None:
    run = await queue_run(store, await new_thread(services), webhook_url=dead_url)
    async with running(RunQueueWorker(store, RecordingExecutor(store), fast, fast.effective_webhook_secret)):
        await eventually(reaches(stored(store, run), webhook_status="failed"))
    final = await stored(store, run)()
    assert (final.status, final.webhook_attempts) == ("completed", fast.webhook_attempts)
    assert "ConnectError" in final.webhook_error


async def test_a_run_whose_worker_died_is_completed_by_another_after_the_claim_expires_and_never_again(
    services: Services, store: RunStore, fast: Settings
) -> None:
    thread_id = await new_thread(services)
    run = await queue_run(store, thread_id)
    crashed = await store.claim_next("crashed-worker", LEASE)  # claimed, thread leased, then the process died
    assert await store.acquire_thread("t1", thread_id, crashed.run_id, LEASE)

    survivor = RecordingExecutor(store)
    async with running(RunQueueWorker(store, survivor, fast, fast.effective_webhook_secret, worker_id="survivor")):
        await asyncio.sleep(LEASE / 2)
        assert survivor.executed == []  # the claim is still live: nobody else runs it yet
        await eventually(reaches(stored(store, run), status="completed"))
    final = await stored(store, run)()
    assert (final.claimed_by, final.attempts, survivor.executed) == ("survivor", 2, [run.run_id])

    latecomer = RecordingExecutor(store)
    async with running(RunQueueWorker(store, latecomer, fast, fast.effective_webhook_secret)):
        await asyncio.sleep(LEASE * 2)
    assert latecomer.executed == []
    assert len(await services.threads.messages("t1", thread_id, limit=10)) == 2


async def test_a_stopped_worker_hands_its_run_to_another_without_using_an_attempt(
    services: Services, store: RunStore, fast: Settings
) -> None:
    thread_id = await new_thread(services)
    run = await queue_run(store, thread_id)
    stopping = RecordingExecutor(store, hold=asyncio.Event())
    first = RunQueueWorker(store, stopping, fast, fast.effective_webhook_secret)
    async with running(first):
        await eventually(holds(lambda: bool(stopping.executed)))
    assert stopping.cancelled == [run.run_id]
    handed_back = await stored(store, run)()
    assert (handed_back.status, handed_back.attempts) == ("queued", 0)
    assert (await services.threads.get("t1", thread_id)).status == "IDLE"

    async with running(RunQueueWorker(store, RecordingExecutor(store), fast, fast.effective_webhook_secret, worker_id="second")):
        await eventually(reaches(stored(store, run), status="completed"))
    assert ((await stored(store, run)()).claimed_by, (await stored(store, run)()).attempts) == ("second", 1)


async def test_an_execution_that_loses_its_claim_is_cancelled(services: Services, store: RunStore, fast: Settings) -> None:
    run = await queue_run(store, await new_thread(services))
    execute = RecordingExecutor(store, hold=asyncio.Event())
    async with running(RunQueueWorker(store, execute, fast, fast.effective_webhook_secret)):
        await eventually(reaches(stored(store, run), status="running"))
        claimed = await stored(store, run)()
        assert await store.fail(claimed, {"code": "CANCELLED", "message": "cancelled by an operator"})
        await eventually(holds(lambda: bool(execute.cancelled)), timeout=LEASE * 3)
    assert (await stored(store, run)()).error["code"] == "CANCELLED"


async def test_a_crashing_execution_fails_its_run_and_the_worker_carries_on(
    services: Services, store: RunStore, fast: Settings, receiver: WebhookReceiver
) -> None:
    thread_id = await new_thread(services)
    doomed = await queue_run(store, thread_id, webhook_url=f"{receiver.url}/hook")
    crashing = RecordingExecutor(store, raises=True)
    async with running(RunQueueWorker(store, crashing, fast, fast.effective_webhook_secret)):
        await eventually(reaches(stored(store, doomed), webhook_status="delivered"))
    assert ((await stored(store, doomed)()).status, (await stored(store, doomed)()).error["code"]) == ("failed", "INTERNAL_ERROR")
    assert receiver.headers[0]["x-mas-event"] == "run.failed"
    assert json.loads(receiver.bodies[0])["status"] == "failed"

    after = await queue_run(store, thread_id)
    async with running(RunQueueWorker(store, RecordingExecutor(store), fast, fast.effective_webhook_secret)):
        await eventually(reaches(stored(store, after), status="completed"))


async def test_a_run_on_a_busy_thread_waits_for_it(services: Services, store: RunStore, fast: Settings) -> None:
    thread_id = await new_thread(services)
    wait_run = await store.start("t1", thread_id, 60, mode="wait", assistant_id=None, input=[], metadata={},
                                 requested_model=None)  # a customer's live request
    assert wait_run is not None
    run = await queue_run(store, thread_id)
    execute = RecordingExecutor(store)
    async with running(RunQueueWorker(store, execute, fast, fast.effective_webhook_secret)):
        await asyncio.sleep(LEASE)
        assert execute.executed == []
        assert (await services.threads.get("t1", thread_id)).lease_run_id == wait_run.run_id
        assert await store.fail(wait_run, {"code": "X", "message": "the live request ended"})
        await eventually(reaches(stored(store, run), status="completed"))
    assert (execute.executed, (await stored(store, run)()).attempts) == ([run.run_id], 1)  # waiting used no attempt


async def test_a_worker_executes_at_most_its_concurrency_at_once(services: Services, store: RunStore, fast: Settings) -> None:
    runs = [await queue_run(store, await new_thread(services), text=f"问题{i}") for i in range(4)]
    release = asyncio.Event()
    execute = RecordingExecutor(store, hold=release)
    async with running(RunQueueWorker(store, execute, fast, fast.effective_webhook_secret)):
        await eventually(holds(lambda: len(execute.executed) == fast.worker_concurrency))
        await asyncio.sleep(LEASE)  # renewals keep the claims: nothing else starts meanwhile
        assert len(execute.executed) == fast.worker_concurrency
        release.set()
        for run in runs:
            await eventually(reaches(stored(store, run), status="completed"))
    assert sorted(execute.executed) == sorted(run.run_id for run in runs)


async def test_stopping_returns_even_when_the_worker_is_woken_at_that_moment(store: RunStore, fast: Settings) -> None:
    for _ in range(30):
        worker = RunQueueWorker(store, RecordingExecutor(store), fast, fast.effective_webhook_secret)
        worker.start()
        await asyncio.sleep(fast.worker_poll_seconds / 2)
        worker.wake()
        async with asyncio.timeout(5):
            await worker.stop()
