"""What every replica (and every batch-task process) does first: read its settings, send the ``mas_`` metrics to Ray
(``ray.serve.metrics``: tagged with the deployment, replica and application, served at Ray's Prometheus endpoint) and
set up its logs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ray.serve import metrics as serve_metrics

from runtime.settings import Settings
from telemetry import metrics
from telemetry.metrics import Metric


class ServeMetrics:
    """A ``telemetry.metrics`` recorder over ``ray.serve.metrics``; each instrument is created on first use."""

    def __init__(self) -> None:
        self._instruments: dict[str, Any] = {}

    def record(self, metric: Metric, value: float, labels: Mapping[str, str]) -> None:
        instrument = self._instruments.get(metric.name) or self._create(metric)
        tags = dict(labels)
        if metric.kind == "counter":
            instrument.inc(value, tags=tags)
        elif metric.kind == "histogram":
            instrument.observe(value, tags=tags)
        else:
            instrument.set(value, tags=tags)

    def _create(self, metric: Metric) -> Any:
        if metric.kind == "counter":
            instrument = serve_metrics.Counter(metric.name, metric.description, tag_keys=metric.labels)
        elif metric.kind == "histogram":
            instrument = serve_metrics.Histogram(metric.name, metric.description, boundaries=list(metric.buckets),
                                                 tag_keys=metric.labels)
        else:
            instrument = serve_metrics.Gauge(metric.name, metric.description, tag_keys=metric.labels)
        self._instruments[metric.name] = instrument
        return instrument


def replica_settings(overrides: dict[str, Any] | None) -> Settings:
    """This process's settings (serve.yaml's ``args: {settings: {...}}`` over the environment), with its metrics and
    logs set up."""
    settings = Settings(**overrides or {})
    metrics.install(ServeMetrics(), settings.metrics_tenants)
    _log_to_replica_log()
    return settings


def _log_to_replica_log() -> None:
    """The service's loggers (``mas.*``, INFO: the per-run line of ``mas.runs``) write where Serve's own do: the
    replica's log file, which the dashboard shows per replica (Serve does not log replicas to stderr here)."""
    ours, serves = logging.getLogger("mas"), logging.getLogger("ray.serve")
    ours.setLevel(logging.INFO)
    for handler in serves.handlers:
        if handler not in ours.handlers:
            ours.addHandler(handler)
    ours.propagate = not serves.handlers

