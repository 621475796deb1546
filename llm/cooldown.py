"""Model cooldown (a circuit breaker per model).

``failures`` failed calls within ``window_s`` take a model out of routing for
``cooldown_s``. After that one request is let through as a probe: success
restores the model, failure starts another cooldown.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from llm.catalog import CooldownPolicy


@dataclass
class _ModelHealth:
    failures: deque[float] = field(default_factory=deque)
    cooling_until: float | None = None  # set while tripped, until a probe succeeds
    probing: bool = False


class Cooldowns:
    def __init__(self, policy: CooldownPolicy, clock: Callable[[], float]) -> None:
        self._policy = policy
        self._clock = clock
        self._models: dict[str, _ModelHealth] = {}

    def _health(self, model: str) -> _ModelHealth:
        return self._models.setdefault(model, _ModelHealth())

    def cooling(self, model: str) -> bool:
        """In cooldown now (the probe, once its turn has come, does not count as cooling)."""
        health = self._health(model)
        return health.cooling_until is not None and (self._clock() < health.cooling_until or health.probing)

    def admit(self, model: str) -> bool:
        """May a call go to ``model`` now? After a cooldown the first caller becomes the probe."""
        health = self._health(model)
        if health.cooling_until is None:
            return True
        if self.cooling(model):
            return False
        health.probing = True
        return True

    def succeeded(self, model: str) -> None:
        self._models[model] = _ModelHealth()

    def failed(self, model: str) -> bool:
        """Counts a failure; True when it starts a cooldown."""
        health, now = self._health(model), self._clock()
        health.failures.append(now)
        while health.failures and health.failures[0] <= now - self._policy.window_s:
            health.failures.popleft()
        if health.probing or len(health.failures) >= self._policy.failures:
            health.cooling_until = now + self._policy.cooldown_s
            health.probing = False
            health.failures.clear()
            return True
        return False

    def abandoned(self, model: str) -> None:
        """A call was cancelled by its caller: no verdict, so a probe's turn passes to the next request."""
        self._health(model).probing = False
