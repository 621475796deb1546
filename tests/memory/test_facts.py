"""Rule-based fact extraction, measured on a dev set of varied customer messages (tests/memory/data/facts_dev.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memory.facts import chinese_number, extract_facts

DEV_SET = [
    json.loads(line) for line in (Path(__file__).parent / "data" / "facts_dev.jsonl").read_text().splitlines() if line.strip()
]


def test_the_dev_set_is_varied_enough_to_mean_something() -> None:
    kinds = {fact.split("：")[0] for case in DEV_SET for fact in case["facts"]}
    negatives = [case for case in DEV_SET if not case["facts"]]
    assert len(DEV_SET) >= 40 and kinds == {"过敏", "预算", "肤质", "做过", "偏好"} and len(negatives) >= 15


def test_at_least_95_percent_of_the_dev_set_is_extracted_exactly() -> None:
    misses = [
        (case["text"], [fact.text for fact in extract_facts(case["text"])], case["facts"])
        for case in DEV_SET
        if sorted(fact.text for fact in extract_facts(case["text"])) != sorted(case["facts"])
    ]
    assert len(misses) <= 0.05 * len(DEV_SET), misses


@pytest.mark.parametrize(
    ("message", "facts"),
    [
        ("我不过敏", []),
        ("没做过医美", []),
        ("我不是油皮", []),
        ("我对酒精过敏", ["过敏：对酒精过敏"]),
        ("我做过热玛吉", ["做过：热玛吉"]),
        ("我是油皮", ["肤质：油皮"]),
    ],
)
def test_negation_turns_a_fact_off(message: str, facts: list[str]) -> None:
    assert [fact.text for fact in extract_facts(message)] == facts


def test_facts_carry_kind_tag_and_importance_and_repeat_once() -> None:
    facts = extract_facts("我对酒精过敏。真的，我对酒精过敏！预算五千")
    assert [(f.text, f.tags, f.importance) for f in facts] == [
        ("过敏：对酒精过敏", ["allergy"], 0.9),
        ("预算：5000元", ["budget"], 0.7),
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("5000", 5000),
        ("1.5", 1.5),
        ("八百", 800),
        ("三千五", 3500),
        ("一万五", 15000),
        ("两万", 20000),
        ("一百零五", 105),
        ("十五", 15),
    ],
)
def test_chinese_numbers(text: str, value: float) -> None:
    assert chinese_number(text) == value


def test_words_that_only_look_like_numbers_are_not() -> None:
    assert chinese_number("万一") is None and chinese_number("两三") is None
