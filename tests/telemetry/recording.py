"""``RecordingMetrics``: a test double for the Serve recorder that keeps every figure in memory."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from telemetry import metrics
from telemetry.metrics import Metric


class RecordingMetrics:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        self.observations: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = defaultdict(list)

    def record(self, metric: Metric, value: float, labels: Mapping[str, str]) -> None:
        assert set(labels) == set(metric.labels), (metric.name, labels)
        key = (metric.name, tuple(sorted(labels.items())))
        if metric.kind == "histogram":
            self.observations[key].append(value)
        elif metric.kind == "counter":
            self.counts[key] += value
        else:
            self.counts[key] = value

    def _matching(self, table: Mapping, metric: Metric, labels: dict[str, str]) -> list:
        return [value for (name, pairs), value in table.items()
                if name == metric.name and labels.items() <= dict(pairs).items()]

    def total(self, metric: Metric, **labels: str) -> float:
        """The sum of a counter (or gauge) over every label set that includes ``labels``."""
        return sum(self._matching(self.counts, metric, labels))

    def observed(self, metric: Metric, **labels: str) -> list[float]:
        """Every observation of a histogram whose labels include ``labels``."""
        return [value for values in self._matching(self.observations, metric, labels) for value in values]

    def label_values(self, metric: Metric, label: str) -> set[str]:
        keys = [*self.counts, *self.observations]
        return {dict(pairs)[label] for name, pairs in keys if name == metric.name}


@contextmanager
def recording(tenants: tuple[str, ...] = ()) -> Iterator[RecordingMetrics]:
    recorder = RecordingMetrics()
    metrics.install(recorder, tenants)
    try:
        yield recorder
    finally:
        metrics.uninstall()
