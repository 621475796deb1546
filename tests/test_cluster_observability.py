"""The Grafana board and the Prometheus config in cluster/ against the metrics the code declares (telemetry/metrics.py).

Ray exports each ``mas_*`` metric with a ``ray_`` prefix: a counter as ``<name>_total``, a histogram as
``<name>_bucket``/``_sum``/``_count``, a gauge under its own name, each series with the metric's declared labels plus
Ray's own. A renamed metric or label must fail here, not leave a silently empty panel.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import yaml

from telemetry import metrics

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "cluster" / "grafana" / "mas-dashboard.json"
PROMETHEUS = ROOT / "cluster" / "prometheus" / "prometheus.yml"
LOCAL_TARGET = "127.0.0.1:8080"  # `mas start --metrics-port` default

# Labels every series carries, set by Ray and Serve rather than by telemetry/metrics.py.
RAY_LABELS = frozenset({"application", "deployment", "replica", "NodeAddress", "SessionName", "WorkerId"})
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}

METRIC_NAME = re.compile(r"\bray_mas_[A-Za-z0-9_]+")
SELECTOR = re.compile(r"\b(ray_mas_[A-Za-z0-9_]+)\s*\{([^}]*)\}")
MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"')
GROUPING = re.compile(r"\b(by|without)\s*\(([^()]*)\)")


def exported() -> dict[str, tuple[metrics.Metric, str]]:
    """Each series name Ray exports for a declared metric -> (the metric, the suffix)."""
    return {f"ray_{m.name}{suffix}": (m, suffix) for m in metrics.ALL for suffix in SUFFIXES[m.kind]}


def allowed_labels(metric: metrics.Metric, suffix: str) -> frozenset[str]:
    return frozenset(metric.labels) | RAY_LABELS | ({"le"} if suffix == "_bucket" else frozenset())


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels(items: list[dict]) -> Iterator[dict]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))  # a collapsed row keeps its panels inside


def queries(board: dict, variables: bool = True) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and (``variables``) every query variable of the board."""
    for panel in panels(board["panels"]):
        for target in panel.get("targets", []):
            yield f"panel {panel.get('title')!r} target {target.get('refId')}", target.get("expr", "")
    for variable in board.get("templating", {}).get("list", []) if variables else ():
        if variable.get("type") == "query":
            query = variable.get("query")
            yield f"variable {variable['name']!r}", query.get("query", "") if isinstance(query, dict) else query or ""
            yield f"variable {variable['name']!r} definition", variable.get("definition", "")


def balanced(expr: str, open_at: int) -> str:
    """The text inside the parenthesis that opens at ``open_at``."""
    depth = 0
    for i in range(open_at, len(expr)):
        depth += {"(": 1, ")": -1}.get(expr[i], 0)
        if depth == 0:
            return expr[open_at + 1:i]
    raise AssertionError(f"unbalanced parentheses in {expr!r}")


def grouped(expr: str) -> Iterator[tuple[list[str], str]]:
    """(labels, the aggregated expression) for each ``by``/``without`` clause, prefix (``sum by (a) (x)``) or postfix
    (``sum (x) by (a)``) form."""
    for match in GROUPING.finditer(expr):
        labels = [label.strip() for label in match.group(2).split(",") if label.strip()]
        rest = expr[match.end():]
        if rest.lstrip().startswith("("):
            yield labels, balanced(expr, len(expr) - len(rest.lstrip()))
            continue
        before = expr[:match.start()].rstrip()
        assert before.endswith(")"), f"cannot tell what {match.group(0)!r} groups in {expr!r}"
        depth = 0
        for i in range(len(before) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(before[i], 0)
            if depth == 0:
                yield labels, before[i + 1:-1]
                break


def test_dashboard_uses_only_declared_metrics_with_their_kind_suffix() -> None:
    names = exported()
    problems = []
    for where, expr in queries(dashboard()):
        for name in sorted(set(METRIC_NAME.findall(expr))):
            if name in names:
                continue
            declared = sorted((m for m in metrics.ALL if name.startswith(f"ray_{m.name}")), key=lambda m: -len(m.name))
            hint = (f"{declared[0].name} is a {declared[0].kind}: use "
                    + " or ".join(f"ray_{declared[0].name}{s}" for s in SUFFIXES[declared[0].kind])) if declared else \
                "no such metric in telemetry.metrics.ALL"
            problems.append(f"{where}: {name}: {hint}")
    assert not problems, "dashboard queries name metrics Ray does not export:\n" + "\n".join(problems)


def test_dashboard_labels_are_declared_or_ray_own() -> None:
    names = exported()
    problems = []
    for where, expr in queries(dashboard()):
        for name, body in SELECTOR.findall(expr):
            if name not in names:
                continue  # reported by the metric-name test
            allowed = allowed_labels(*names[name])
            problems += [f"{where}: {name}{{{label}=...}}: {label!r} is not a label of {name} (it has {sorted(allowed)})"
                         for label in MATCHER.findall(body) if label not in allowed]
        for labels, body in grouped(expr):
            for name in sorted(set(METRIC_NAME.findall(body)) & names.keys()):
                allowed = allowed_labels(*names[name])
                problems += [f"{where}: by ({', '.join(labels)}) over {name}: {label!r} is not a label of {name} "
                             f"(it has {sorted(allowed)})" for label in labels if label not in allowed]
    assert not problems, "dashboard queries use labels the metrics do not have:\n" + "\n".join(problems)


def test_quantiles_are_taken_over_buckets_kept_by_le() -> None:
    problems = []
    for where, expr in queries(dashboard()):
        for match in re.finditer(r"\bhistogram_quantile\s*\(", expr):
            body = balanced(expr, match.end() - 1)
            if not re.search(r"\bray_mas_\w+_bucket\b", body):
                problems.append(f"{where}: histogram_quantile over no ray_mas_*_bucket series: {body!r}")
            if not any("le" in labels for labels, _ in grouped(body)):
                problems.append(f"{where}: histogram_quantile's aggregation must keep 'le': {body!r}")
    assert not problems, "\n".join(problems)


def test_every_declared_metric_has_a_panel() -> None:
    used = {name for _, expr in queries(dashboard(), variables=False) for name in METRIC_NAME.findall(expr)}
    names = exported()
    shown = {names[name][0].name for name in used if name in names}
    missing = [f"{m.name} ({m.kind}, as ray_{m.name}{SUFFIXES[m.kind][0]})" for m in metrics.ALL if m.name not in shown]
    assert not missing, "metrics declared in telemetry/metrics.py but on no dashboard panel: " + ", ".join(missing)


def test_panels_are_described_and_use_the_datasource_variable_and_rate_interval() -> None:
    board = dashboard()
    variables = {v["name"] for v in board["templating"]["list"]}
    assert {"datasource", "application"} <= variables, f"dashboard variables: {sorted(variables)}"
    problems = [f"variable {v['name']!r}: datasource {v.get('datasource')!r}, not the ${{datasource}} variable"
                for v in board["templating"]["list"]
                if v.get("type") == "query" and (v.get("datasource") or {}).get("uid") != "${datasource}"]
    for panel in panels(board["panels"]):
        if panel.get("type") == "row":
            continue
        title = panel.get("title")
        if not panel.get("description", "").strip():
            problems.append(f"panel {title!r} has no description")
        for source in [panel.get("datasource")] + [t.get("datasource") for t in panel.get("targets", [])]:
            if (source or {}).get("uid") != "${datasource}":
                problems.append(f"panel {title!r}: datasource {source!r}, not the ${{datasource}} variable")
        for target in panel.get("targets", []):
            for window in re.findall(r"\[([^\]]*)\]", target.get("expr", "")):
                if window != "$__rate_interval":
                    problems.append(f"panel {title!r} target {target.get('refId')}: range [{window}], use [$__rate_interval]")
    assert not problems, "\n".join(problems)


def test_prometheus_config_scrapes_a_local_mas_start() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    jobs = config.get("scrape_configs") or []
    local = [job["job_name"] for job in jobs
             for static in job.get("static_configs") or [] if LOCAL_TARGET in (static.get("targets") or [])]
    assert local, f"no job in {PROMETHEUS.name} scrapes {LOCAL_TARGET} (jobs: {[job.get('job_name') for job in jobs]})"
    assert config.get("global", {}).get("scrape_interval") == "15s", f"global scrape_interval: {config.get('global')}"
