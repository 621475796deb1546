"""Merging ready stream items: fewer, larger chunks under load, no delay and no reordering."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from llm.coalesce import coalesced
from llm.types import LLMResponse, StreamEvent, Usage, merge_deltas
from llm.vllm_engine import VLLMChunk, VLLMUsage, merge_chunks

FINAL = StreamEvent(response=LLMResponse(content="abcdef", model="m", provider="p", usage=Usage(), cost_usd=0, latency_ms=1))


async def _events(deltas: str, pause_s: float = 0.0, fail: bool = False) -> AsyncIterator[StreamEvent]:
    for delta in deltas:
        yield StreamEvent(delta=delta)
        await asyncio.sleep(pause_s)
    if fail:
        raise RuntimeError("upstream broke")
    yield FINAL


async def test_items_that_arrive_while_the_consumer_is_busy_are_merged_in_order() -> None:
    received = []
    async for event in coalesced(_events("abcdef"), merge_deltas):
        received.append(event)
        await asyncio.sleep(0.01)  # a slow hop: the source runs ahead meanwhile
    assert "".join(e.delta for e in received) == "abcdef"
    assert len(received) < 7 and received[-1] is FINAL


async def test_without_an_interval_a_consumer_that_keeps_up_gets_every_item_as_it_came() -> None:
    received = [event async for event in coalesced(_events("abc", pause_s=0.005), merge_deltas)]
    assert [e.delta for e in received] == ["a", "b", "c", ""] and received[-1] is FINAL


async def test_an_error_surfaces_after_the_items_before_it() -> None:
    received = []
    with pytest.raises(RuntimeError, match="upstream broke"):
        async for event in coalesced(_events("xyz", fail=True), merge_deltas):
            received.append(event.delta)
            await asyncio.sleep(0.01)
    assert "".join(received) == "xyz"


async def test_closing_early_stops_and_closes_the_source() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[StreamEvent]:
        try:
            while True:
                yield StreamEvent(delta="x")
                await asyncio.sleep(0)
        finally:
            closed.set()

    stream = coalesced(endless(), merge_deltas)
    assert (await anext(stream)).delta.startswith("x")
    await stream.aclose()
    await asyncio.wait_for(closed.wait(), 1)


def test_merged_deltas_keep_the_offline_flag() -> None:
    merged = merge_deltas(StreamEvent(delta="a", offline=True), StreamEvent(delta="b", offline=True))
    assert merged == StreamEvent(delta="ab", offline=True)


def test_vllm_chunks_merge_until_the_last_one() -> None:
    last = VLLMChunk(delta="c", finish_reason="stop", usage=VLLMUsage(prompt_tokens=3, completion_tokens=3))
    merged = merge_chunks(merge_chunks(VLLMChunk(delta="a"), VLLMChunk(delta="b")), last)
    assert merged == VLLMChunk(delta="abc", finish_reason="stop", usage=last.usage)
    assert merge_chunks(last, VLLMChunk(delta="d")) is None


async def test_with_an_interval_a_fast_stream_is_sent_in_a_few_items_and_the_first_at_once() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    received, first_at = [], None
    async for event in coalesced(_events("x" * 40, pause_s=0.001), merge_deltas, min_interval_s=0.02):
        first_at = first_at if first_at is not None else loop.time() - started
        received.append(event)
    assert "".join(e.delta for e in received) == "x" * 40 and received[-1] is FINAL
    assert len(received) <= 10  # ~40 ms of tokens in 20 ms windows, not 41 items
    assert first_at < 0.015
