"""Appointment times in customer messages: the labelled sets and the rules a receptionist relies on."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from agents.intent import parse_appointment_time
from agents.timeparse import SHANGHAI, find_appointment_time

DATA = Path(__file__).parent / "data"
TUESDAY_10AM = datetime(2026, 3, 10, 10, 0, tzinfo=SHANGHAI)


def _cases(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def _misses(cases: list[dict]) -> list[tuple[str, str | None, str | None]]:
    misses = []
    for case in cases:
        found = parse_appointment_time(case["text"], datetime.fromisoformat(case["now"]))
        got = found.isoformat() if found else None
        if got != case["expected"]:
            misses.append((case["text"], got, case["expected"]))
    return misses


@pytest.mark.parametrize("name", ["time_dev.jsonl", "time_extra.jsonl"])
def test_labelled_set_accuracy_is_at_least_95_percent(name):
    cases = _cases(name)
    misses = _misses(cases)
    assert 1 - len(misses) / len(cases) >= 0.95, misses


def test_extra_set_covers_varied_moments():
    cases = _cases("time_extra.jsonl")
    nows = {datetime.fromisoformat(case["now"]) for case in cases}
    assert len(cases) >= 40
    assert len({now.weekday() for now in nows}) >= 4
    assert any(now.hour >= 21 for now in nows) and any((now.month, now.day) == (12, 30) for now in nows)


def test_result_is_aware_shanghai_whatever_zone_now_is_in():
    utc_now = datetime(2026, 3, 10, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai
    naive_now = datetime(2026, 3, 10, 10, 0)
    for now in (utc_now, naive_now):
        found = parse_appointment_time("明天下午3点", now)
        assert found == datetime(2026, 3, 11, 15, 0, tzinfo=SHANGHAI)
        assert found.utcoffset().total_seconds() == 8 * 3600


@pytest.mark.parametrize("text", ["过段时间再说", "改天吧", "以后有空再约", "最近比较忙", "打了2针", "做了3次", "3000元",
                                  "疗程10天", "能便宜一点吗", "我有两点疑问", "地铁2号线", "昨天下午去过了", "上周五"])
def test_vague_past_and_counted_words_name_no_time(text):
    assert parse_appointment_time(text, TUESDAY_10AM) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("下午3点到5点都可以", datetime(2026, 3, 10, 15, 0)),
    ("明天下午两三点", datetime(2026, 3, 11, 14, 0)),
    ("明天不行，后天下午可以", datetime(2026, 3, 12, 14, 0)),
    ("明天上午不行，下午3点可以", datetime(2026, 3, 11, 15, 0)),
    ("明天有事后天上午十点可以", datetime(2026, 3, 12, 10, 0)),
    ("周六约满了吗", datetime(2026, 3, 14, 9, 0)),
    ("明天下午3点改到后天", datetime(2026, 3, 12, 15, 0)),
    ("早上9点", datetime(2026, 3, 11, 9, 0)),  # already past today: tomorrow
    ("周二上午", datetime(2026, 3, 17, 9, 0)),  # today is Tuesday and its morning is past: next week
    ("下周", datetime(2026, 3, 16, 9, 0)),
    ("晚上12点", datetime(2026, 3, 11, 0, 0)),
])
def test_ranges_corrections_and_rollovers(text, expected):
    assert parse_appointment_time(text, TUESDAY_10AM) == expected.replace(tzinfo=SHANGHAI)


def test_a_period_under_way_today_gives_the_next_full_hour():
    sunday_afternoon = datetime(2026, 6, 7, 14, 20, tzinfo=SHANGHAI)
    assert parse_appointment_time("今天下午", sunday_afternoon) == datetime(2026, 6, 7, 15, 0, tzinfo=SHANGHAI)


def test_found_time_keeps_the_words_that_named_it():
    found = find_appointment_time("我想明天下午3点过来面诊", TUESDAY_10AM)
    assert found.text == "明天下午3点"
    assert find_appointment_time("今晚8点能过去吗", TUESDAY_10AM).text == "今晚8点"
