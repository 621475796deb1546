"""Every agent that reads a customer message stays linear on the longest one the API accepts (20,000 characters).

A quadratic regex once let one request hold a Compliance replica for over 100 s (a run of digits against ``\\d+``
tried at every start): it missed its health checks and every tenant's turns stalled. These tests feed worst-case
inputs to each agent and bound the time per check and its growth from 2,000 to 20,000 characters. Bounds are
generous (a shared 2-core CI box is noisy), but the quadratic code took seconds at 2,000 characters already.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from agents.compliance import MAX_TEXT_CHARS, ComplianceAgent, ComplianceInput
from agents.compliance_rules import CHANNELS, DIRECTIONS
from agents.intent import IntentInput, detect_intent
from agents.sentiment import SentimentInput, analyse_offline, load_lexicon
from agents.timeparse import SHANGHAI, find_appointment_time
from memory.facts import extract_facts
from tests.config_paths import CONFIG_DIR

SHORT = 2_000
SHORT_BUDGET_S = 0.25  # ~0.03 s now; a quadratic rule takes seconds here, so the test fails before the long run
LONG_BUDGET_S = 1.0    # ~0.3 s now for the slowest channel
GROWTH = 25            # 10x the text: linear is 10-13x (more hits, more GC), quadratic 100x
NOISE_FLOOR_S = 0.01   # below this the short timing is noise, not a base to scale from

AGENT = ComplianceAgent.load(CONFIG_DIR / "compliance")
LEXICON = load_lexicon(CONFIG_DIR / "sentiment" / "lexicon.yaml")
NOW = datetime(2025, 5, 1, 10, tzinfo=SHANGHAI)

CHECKS: dict[str, Callable[[str], object]] = {
    **{f"compliance {channel}/{direction}": (lambda text, c=channel, d=direction: AGENT.check_text(text, c, d))
       for channel in CHANNELS for direction in DIRECTIONS},
    "sentiment": partial(analyse_offline, LEXICON),
    "intent": lambda text: detect_intent(IntentInput(text=text[:5000], now=NOW)),  # the model's own limit
    "time": lambda text: find_appointment_time(text, NOW),
    "facts": extract_facts,
}

# Units repeated to the length under test: runs that an unbounded repeat scans to the end from every start.
UNITS = [
    "1", "1234567890", "一二三四五六七八九十", "两", "百分之", "，", "。", "！？", "、", " ", "\n", "\t ", "a", "ab1_",
    "最好", "最", "您问", "您说“", "“", "保证", "包", "v:", "+v", "vx:", "微信 ", "电话", "138-", "1-", "400 ",
    "ｖｘ１２３", "９８％", "Ｎｏ．１", "好a1 ，", "很", "了", "的话", "就 ", "3点", "明天", "预算1", "我做过 ", "做之前",
    # what the normaliser rewrites: fillers, zero-width characters, traditional forms, numbers in words, slang
    "最 ", "好*", "\u200b", "療效", "🈚", "百分之九", "九成", "一三八", "十", "绿泡泡", "扣扣", "二维🐴", "1三",
]


def _pack_vocabulary() -> list[str]:
    """The words the compliance packs and the sentiment lexicon are built from: the likeliest to start a match."""
    sources = [p.pattern for rule in AGENT._book.rules for p in (*rule.patterns, *rule.excludes)]
    words = {w for source in sources for w in re.findall(r"[\u4e00-\u9fff]{1,4}|[a-z]{2,}", source)}
    return sorted(words | set(LEXICON.words))


VOCABULARY = _pack_vocabulary()
FILLERS = [*"，。！？、：:“”《》 \n0123456789%～-+", "ｖｘ", "１２"]


def _repeated(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _seconds(check: Callable[[str], object], text: str, runs: int, enough: float = 0.0) -> float:
    """Best of up to ``runs`` runs (a busy box only ever adds time), stopping once one takes ``enough`` or less."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        check(text)
        best = min(best, time.perf_counter() - started)
        if best <= enough:
            break
    return best


def _assert_linear(make: Callable[[int], str]) -> None:
    for name, check in CHECKS.items():
        name = f"{name} on {make(30)!r}…"
        short = _seconds(check, make(SHORT), runs=3)
        assert short <= SHORT_BUDGET_S, f"{name}: {short:.3f} s for {SHORT} characters"
        allowed = min(LONG_BUDGET_S, GROWTH * max(short, NOISE_FLOOR_S))
        long = _seconds(check, make(MAX_TEXT_CHARS), runs=5, enough=allowed)
        assert long <= allowed, f"{name}: {long:.3f} s for {MAX_TEXT_CHARS} characters ({short:.3f} s for {SHORT})"


@pytest.mark.parametrize("unit", UNITS)
def test_runs_of_one_unit_take_linear_time(unit):
    _assert_linear(lambda size: _repeated(unit, size))


# No shrinking: each example takes seconds, and the failing run's unit is reported as drawn.
FUZZ = {"deadline": None, "derandomize": True, "phases": [Phase.generate], "suppress_health_check": [HealthCheck.too_slow]}
_units = st.one_of(
    st.lists(st.sampled_from(VOCABULARY + FILLERS), min_size=1, max_size=4).map("".join),  # "保证保证…", "您问，您问，…"
    st.text(alphabet="1１一十 ，,。:：v+-a“”\n最好您问保证微信*\u200b療🈚百分之成绿泡", min_size=1, max_size=6),
)


@settings(max_examples=15, **FUZZ)
@given(unit=_units)
def test_generated_runs_take_linear_time(unit):
    _assert_linear(lambda size: _repeated(unit, size))


@settings(max_examples=5, **FUZZ)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_random_text_from_the_rules_own_vocabulary_takes_linear_time(seed):
    """Mixed words and signs make many overlapping hits: the post-processing of hits must stay linear too."""
    pieces = VOCABULARY + FILLERS * 20

    def make(size: int) -> str:
        rng, parts, length = random.Random(seed), [], 0
        while length < size:
            parts.append(rng.choice(pieces))
            length += len(parts[-1])
        return "".join(parts)[:size]

    _assert_linear(make)


async def test_a_long_check_leaves_the_event_loop_answering():
    """While a worst-case 20,000-character check runs through the async API, a 10 ms ticker is never held up
    much longer: the check runs in a worker thread (it takes ~0.3 s; blocking, the ticker would stall that long)."""
    text = _repeated("最好的保证有效，加vx123456。1234567890一二三四五六七八九十", MAX_TEXT_CHARS)

    async def longest_gap() -> float:
        gaps, done = [], asyncio.Event()

        async def ticker() -> None:
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.01)
                gaps.append(time.perf_counter() - last)
                last = time.perf_counter()

        ticking = asyncio.create_task(ticker())
        await asyncio.sleep(0.03)
        result = await AGENT.check(ComplianceInput(text=text, channel="social", direction="output"))
        done.set()
        await ticking
        assert result.verdict == "blocked"
        return max(gaps)

    gap = float("inf")
    for _ in range(3):  # a busy box can pause any thread now and then; a blocked loop stalls in every round
        gap = min(gap, await longest_gap())
        if gap <= 0.1:
            break
    assert gap <= 0.1, f"the event loop stalled for {gap * 1000:.0f} ms"


@pytest.mark.parametrize("model", [SentimentInput, IntentInput])
def test_what_an_agent_reads_besides_the_message_is_bounded(model: type) -> None:
    """History is linear work too: an operator's invoke may not send an unbounded amount of it."""
    with pytest.raises(ValidationError):
        model(text="你好", history=["你好"] * 51)
    with pytest.raises(ValidationError):
        model(text="你好", history=["好" * 20_001])
    assert len(model(text="你好", history=["好" * 20_000] * 50).history) == 50
