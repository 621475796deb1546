"""Evaluating an agent on a labelled set (the ``evaluate`` batch kind): each row's prediction, then the metrics a
team tunes its rules with: accuracy, precision and recall per class, the confusion matrix, and the misses.

Rows (JSONL, as in the shipped datasets):
- compliance: ``{text, channel?, categories: [...]}`` (``verdict`` optional): exact match of the category set; per
  category precision/recall; the confusion matrix of the verdict (approved / violation);
- sentiment: ``{text, label, history?}``; intent: ``{text, history?, now?, expected: {strength}}`` (or ``label``):
  single-label, confusion matrix over the labels.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from agents.compliance import ComplianceInput
from agents.graph import AgentSet
from agents.intent import IntentInput
from agents.sentiment import SentimentInput

EvaluatedAgent = Literal["compliance", "sentiment", "intent"]
MAX_MISSES = 200
Text = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class ComplianceRow(BaseModel):
    text: Text
    channel: Literal["chat", "social", "ad"] = "chat"
    categories: list[Annotated[str, StringConstraints(max_length=64)]] = Field(max_length=20)


class SentimentRow(BaseModel):
    text: Annotated[str, StringConstraints(min_length=1, max_length=5000)]
    label: Literal["positive", "neutral", "negative"]
    history: list[Annotated[str, StringConstraints(max_length=5000)]] = Field(default=[], max_length=50)


class IntentExpected(BaseModel):
    strength: Literal["none", "weak", "strong"]


class IntentRow(BaseModel):
    text: Annotated[str, StringConstraints(min_length=1, max_length=5000)]
    history: list[Annotated[str, StringConstraints(max_length=5000)]] = Field(default=[], max_length=50)
    now: datetime | None = None
    expected: IntentExpected

ROWS: dict[str, type[BaseModel]] = {"compliance": ComplianceRow, "sentiment": SentimentRow, "intent": IntentRow}


async def predict(agents: AgentSet, agent: EvaluatedAgent, row: dict[str, Any]) -> dict[str, Any]:
    """The agent's answer to one row (already validated at submit), with what was expected and whether it matched."""
    if agent == "compliance":
        case = ComplianceRow.model_validate(row)
        verdict = await agents.compliance.check(ComplianceInput(text=case.text, channel=case.channel, direction="output"))
        predicted: Any = sorted({v.category for v in verdict.violations})
        expected: Any = sorted(set(case.categories))
    elif agent == "sentiment":
        sentiment = SentimentRow.model_validate(row)
        predicted = (await agents.sentiment.analyse(SentimentInput(text=sentiment.text, history=sentiment.history))).label
        expected = sentiment.label
    else:
        intent = IntentRow.model_validate(row)
        found = await agents.intent.detect(IntentInput(text=intent.text, history=intent.history, now=intent.now))
        predicted, expected = found.strength, intent.expected.strength
    return {"expected": expected, "predicted": predicted, "correct": predicted == expected}


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def metrics(agent: EvaluatedAgent, rows: list[tuple[Any, dict[str, Any]]]) -> dict[str, Any]:
    """``rows``: (input row, prediction) of every item that ran, in input order."""
    outcomes = [prediction for _, prediction in rows]
    misses = [{"index": index, "text": row["text"][:200], "expected": p["expected"], "predicted": p["predicted"]}
              for index, (row, p) in enumerate(rows) if not p["correct"]]
    summary: dict[str, Any] = {"agent": agent, "evaluated": len(outcomes), "accuracy": _ratio(sum(p["correct"] for p in outcomes),
                                                                                        len(outcomes)),
                               "misses": misses[:MAX_MISSES], "missed": len(misses)}
    if agent == "compliance":
        counts: Counter[tuple[str, str]] = Counter()
        for p in outcomes:
            for category in set(p["expected"]) | set(p["predicted"]):
                counts[(category, "tp" if category in p["expected"] and category in p["predicted"] else
                        "fn" if category in p["expected"] else "fp")] += 1
        verdicts = Counter((("violation" if p["expected"] else "approved"), ("violation" if p["predicted"] else "approved"))
                           for p in outcomes)
        summary["confusion"] = {e: {p: verdicts[(e, p)] for p in ("approved", "violation")} for e in ("approved", "violation")}
        classes = sorted({category for category, _ in counts})
    else:
        labels = Counter((p["expected"], p["predicted"]) for p in outcomes)
        classes = sorted({label for pair in labels for label in pair})
        summary["confusion"] = {e: {p: labels[(e, p)] for p in classes} for e in classes}
        counts = Counter()
        for (expected, predicted), n in labels.items():
            if expected == predicted:
                counts[(expected, "tp")] += n
            else:
                counts[(expected, "fn")] += n
                counts[(predicted, "fp")] += n
    summary["per_class"] = {
        name: {"precision": _ratio(counts[(name, "tp")], counts[(name, "tp")] + counts[(name, "fp")]),
               "recall": _ratio(counts[(name, "tp")], counts[(name, "tp")] + counts[(name, "fn")]),
               "support": counts[(name, "tp")] + counts[(name, "fn")]}
        for name in classes
    }
    return summary
