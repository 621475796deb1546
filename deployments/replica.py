"""What every replica (and every batch-task process) does first: read its settings, send the ``mas_`` metrics to Ray
(``ray.serve.metrics``: tagged with the deployment, replica and application, served at Ray's Prometheus endpoint) and
set up its logs."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from ray.serve import metrics as serve_metrics

from runtime.settings import Settings
from telemetry import metrics
from telemetry.log_masking import install_log_masking
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
    logs set up: personal data is masked on every handler Serve and this module configured."""
    settings = Settings(**overrides or {})
    metrics.install(ServeMetrics(), settings.metrics_tenants)
    _log_to_stderr()
    install_log_masking()
    return settings


def _log_to_stderr() -> None:
    """The service's loggers (``mas.*``, INFO: the per-run line of ``mas.runs``) write to the process's stderr: Ray
    keeps it per worker (the dashboard's logs view) and forwards it to the ``mas start`` terminal. Serve's own replica
    log is buffered (1,000 records in throughput mode), too late for a line an operator is waiting for."""
    ours = logging.getLogger("mas")
    ours.setLevel(logging.INFO)
    if not any(isinstance(handler, _ProcessStderr) for handler in ours.handlers):
        ours.addHandler(_ProcessStderr())
    ours.propagate = False


class _ProcessStderr(logging.StreamHandler):
    """The process's own stderr (Serve swaps ``sys.stderr`` for its buffered logger)."""

    def __init__(self) -> None:
        super().__init__(sys.__stderr__)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))

