"""A tenant's usage over recent days, for the console: runs, tokens and cost per day and model, and what compliance
found, by category. Days are Asia/Shanghai calendar days (the brands' working day)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from store.runs import RunStore

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_RUNS = 20_000  # the window's newest runs counted; older ones in a busy window are reported as left out


class DayUsage(BaseModel):
    day: str = Field(description="YYYY-MM-DD, Asia/Shanghai.")
    model: str = Field(description="The model that answered; 'none' for runs that called none (blocked, failed early).")
    runs: int
    failed: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


class CategoryCount(BaseModel):
    direction: str = Field(description="input (customer messages) or output (replies)")
    category: str
    count: int


class Usage(BaseModel):
    days: int
    since: datetime
    per_day: list[DayUsage] = Field(description="Newest day first, then by model.")
    compliance: list[CategoryCount] = Field(description="Violations found, most frequent first.")
    verdicts: dict[str, int] = Field(description="Output compliance verdicts of the runs: approved, rewritten, blocked …")
    runs_counted: int
    truncated: bool = Field(description="The window held more than the runs counted (the newest are).")


async def usage(runs: RunStore, tenant_id: str, days: int, now: datetime | None = None) -> Usage:
    now = now or datetime.now(SHANGHAI)
    start = (now.astimezone(SHANGHAI) - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = await runs.since(tenant_id, start, MAX_RUNS + 1)
    counted = rows[:MAX_RUNS]
    totals: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    costs: dict[tuple[str, str], float] = defaultdict(float)
    categories: Counter[tuple[str, str]] = Counter()
    verdicts: Counter[str] = Counter()
    for run in counted:
        key = (run.created_at.astimezone(SHANGHAI).date().isoformat(), run.model or "none")
        totals[key].update(runs=1, failed=int(run.status == "failed"), input_tokens=run.input_tokens,
                           output_tokens=run.output_tokens)
        costs[key] += run.cost_usd
        for direction, found in _compliance(run.result).items():
            if direction == "output" and found.get("verdict"):
                verdicts[str(found["verdict"])] += 1
            for violation in found.get("violations") or []:
                categories[(direction, str(violation.get("category", "unknown")))] += 1
    per_day = [DayUsage(day=day, model=model, runs=count["runs"], failed=count["failed"], input_tokens=count["input_tokens"],
                        output_tokens=count["output_tokens"], cost_usd=round(costs[(day, model)], 6))
               for (day, model), count in sorted(totals.items(), key=lambda item: (item[0][0], item[0][1]), reverse=True)]
    return Usage(days=days, since=start, per_day=per_day,
                 compliance=[CategoryCount(direction=d, category=c, count=n) for (d, c), n in categories.most_common()],
                 verdicts=dict(verdicts.most_common()), runs_counted=len(counted), truncated=len(rows) > MAX_RUNS)


def _compliance(result: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The input and output compliance findings a run's result recorded (its agents' steps)."""
    steps = ((result or {}).get("agents") or {}).get("compliance") or {}
    found = {}
    for direction in ("input", "output"):
        step = steps.get(direction) if isinstance(steps, dict) else None
        output = step.get("output") if isinstance(step, dict) else None
        if isinstance(output, dict):
            found[direction] = output
    return found
