"""Clients that keep sending chat turns (``runs/wait``) while the test breaks the cluster, each turn retried with its
``Idempotency-Key`` as the README tells clients to do, and every attempt recorded."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

MAX_ATTEMPTS = 6
RETRY_AFTER_S = 0.5


@dataclass(frozen=True)
class Attempt:
    client: int
    turn: int
    text: str
    request_id: str
    started: float  # time.monotonic()
    ended: float
    status: int | None  # None: no HTTP answer (the connection failed or was cut)

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class TurnLoad:
    api: str
    headers: dict[str, str]
    assistant_id: str
    threads: list[str]  # one per client: a thread takes one turn at a time
    attempts: list[Attempt] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)  # turns that failed every attempt
    _stop: threading.Event = field(default_factory=threading.Event)
    _clients: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self._clients = [threading.Thread(target=self._client, args=(index,), daemon=True) for index in range(len(self.threads))]
        for client in self._clients:
            client.start()

    def stop(self) -> list[Attempt]:
        """Stop after each client's current turn."""
        self._stop.set()
        for client in self._clients:
            client.join(timeout=120)
        return sorted(self.attempts, key=lambda attempt: attempt.started)

    def answered_since(self, since: float) -> int:
        return sum(1 for attempt in list(self.attempts) if attempt.ok and attempt.started >= since)

    def _client(self, index: int) -> None:
        url = f"/v1/threads/{self.threads[index]}/runs/wait"
        with httpx.Client(base_url=self.api, timeout=90) as http:
            turn = 0
            while not self._stop.is_set():
                text = f"客户{index}的第{turn}个问题：补水项目多少钱？"
                body: dict[str, Any] = {"assistant_id": self.assistant_id, "input": [{"role": "user", "content": text}]}
                if not self._turn(http, url, index, turn, text, body):
                    self.unanswered.append(text)
                turn += 1

    def _turn(self, http: httpx.Client, url: str, index: int, turn: int, text: str, body: dict[str, Any]) -> bool:
        key = f"load-{index}-{turn}-{self.threads[index][:8]}"
        for attempt in range(MAX_ATTEMPTS):
            request_id = f"{key}-{attempt}"
            started = time.monotonic()
            try:
                status: int | None = http.post(url, json=body, headers={
                    **self.headers, "Idempotency-Key": key, "X-Request-ID": request_id}).status_code
            except httpx.TransportError:
                status = None
            self.attempts.append(Attempt(index, turn, text, request_id, started, time.monotonic(), status))
            if status == 200:
                return True
            time.sleep(RETRY_AFTER_S)
        return False
