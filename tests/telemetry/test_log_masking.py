"""The log filter: what any handler it is on prints has personal data masked, whatever the record carries."""

from __future__ import annotations

import io
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry import metrics
from telemetry.log_masking import MAX_MESSAGE_CHARS, MAX_TRACE_CHARS, PersonalDataFilter, install_log_masking

PHONE, ID_NUMBER, EMAIL = "13812345678", "110101199003071234", "zhang.meili@example.com"


@pytest.fixture
def printed() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose one handler, with the filter, prints to a buffer as an operator's terminal would."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(PersonalDataFilter())
    logger = logging.getLogger("tests.log_masking")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)
    logger.propagate = True


def test_arguments_of_any_type_are_merged_then_masked(printed: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = printed
    logger.info("customer %s wrote %r, profile %s, id %d", "我叫张美丽", {"phone": PHONE}, [EMAIL], int(ID_NUMBER))
    text = out.getvalue()
    assert PHONE not in text and EMAIL not in text and ID_NUMBER not in text and "张美丽" not in text
    assert "[手机号]" in text and "[邮箱]" in text and "[身份证号]" in text and "我叫[姓名]" in text


def test_exception_text_is_masked_and_the_traceback_kept(printed: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = printed
    try:
        raise ValueError(f"bad row: phone={PHONE} email={EMAIL}")
    except ValueError:
        logger.exception("write failed")
    text = out.getvalue()
    assert PHONE not in text and EMAIL not in text
    assert "Traceback (most recent call last)" in text and "ValueError: bad row: phone=[手机号]" in text


def test_access_log_lines_keep_the_path_and_withhold_the_query(printed: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = printed
    path = "/v1/products/search?q=%E6%88%91%E5%8F%AB%E5%BC%A0%E7%BE%8E%E4%B8%BD%EF%BC%8C110101199003071234&k=5"
    logger.info('%s - "%s %s HTTP/%s" %d', "10.0.0.7:5123", "GET", path, "1.1", 200)  # uvicorn.access's format
    assert out.getvalue() == 'INFO tests.log_masking 10.0.0.7:5123 - "GET /v1/products/search?[已脱敏] HTTP/1.1" 200\n'


def test_stack_info_is_masked(printed: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = printed
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hi", None, None, sinfo=f"Stack: call({PHONE})")
    logger.handle(record)
    assert PHONE not in out.getvalue() and "[手机号]" in out.getvalue()


def test_arguments_that_do_not_fit_the_format_are_not_printed(printed: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = printed
    logger.warning("two %s %s", PHONE)  # a bug at a call site: logging would print the arguments in its error report
    assert PHONE not in out.getvalue() and "two %s %s [log arguments did not format]" in out.getvalue()


def test_huge_messages_and_tracebacks_are_bounded(printed: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = printed
    huge = "水光针" * 200_000 + PHONE
    try:
        raise RuntimeError(huge)
    except RuntimeError:
        logger.exception("%s", huge)
    lines = out.getvalue()
    assert len(lines) < MAX_MESSAGE_CHARS + MAX_TRACE_CHARS + 200
    assert PHONE not in lines and "characters not logged]" in lines


def test_a_number_cut_by_the_bound_is_dropped_whole(printed: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = printed
    cut_at = MAX_MESSAGE_CHARS - 60  # where a bounded message is cut, leaving room for the note
    logger.info("%s", "x" * (cut_at - 10) + " " + f"{PHONE} " * 100)  # the cut falls inside the first number
    assert "138123" not in out.getvalue() and "characters not logged]" in out.getvalue()


def test_a_record_through_two_filtered_handlers_is_printed_the_same_by_both() -> None:
    outs = [io.StringIO(), io.StringIO()]
    logger = logging.getLogger("tests.log_masking.two")
    handlers = [logging.StreamHandler(out) for out in outs]
    for handler in handlers:
        handler.addFilter(PersonalDataFilter())
        logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("%s", "我叫王小美 " + "长" * MAX_MESSAGE_CHARS)
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
        logger.propagate = True
    assert outs[0].getvalue() == outs[1].getvalue() and "王小美" not in outs[0].getvalue()


def test_install_covers_every_configured_handler_and_uninstall_takes_it_off() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    third_party = logging.getLogger("tests.third_party_library")
    third_party.addHandler(handler)
    # A replica's install (replica_settings, run in-process by earlier tests) stays for the process's life, as it does
    # on Serve: this install must take off only what it added.
    last_resort_masked = any(isinstance(f, PersonalDataFilter) for f in logging.lastResort.filters)
    try:
        uninstall = install_log_masking()
        assert install_log_masking()() is None  # a second install adds nothing (its uninstall takes nothing off)
        third_party.error("request body: %s", PHONE)
        assert any(isinstance(f, PersonalDataFilter) for f in logging.lastResort.filters)
        uninstall()
        third_party.error("after: %s", PHONE)
    finally:
        third_party.removeHandler(handler)
    first, second = out.getvalue().splitlines()
    assert first == "request body: [手机号]" and second == f"after: {PHONE}"
    assert any(isinstance(f, PersonalDataFilter) for f in logging.lastResort.filters) == last_resort_masked


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet="1386@.a我叫张 ：-+X", min_size=MAX_MESSAGE_CHARS, max_size=4 * MAX_MESSAGE_CHARS))
def test_worst_case_messages_are_masked_in_bounded_time(text: str) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (text,), None)
    started = time.perf_counter()
    PersonalDataFilter().filter(record)
    assert time.perf_counter() - started < 0.5
    assert len(record.msg) <= MAX_MESSAGE_CHARS * 3 // 2  # "我叫王芳" -> "我叫[姓名]": a placeholder may be longer


def test_a_replicas_own_log_lines_are_masked_on_its_stderr(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from deployments.replica import replica_settings  # imports Ray's metrics module; starts nothing

    stderr = io.StringIO()
    monkeypatch.setattr(sys, "__stderr__", stderr)  # the replica's handler writes to the process's own stderr
    ours = logging.getLogger("mas")
    before = (ours.level, ours.propagate, list(ours.handlers))
    try:
        replica_settings({"data_dir": tmp_path})
        logging.getLogger("mas.runs").warning("run r1: customer %s, %s", PHONE, EMAIL)
    finally:
        for handler in ours.handlers:
            if handler not in before[2]:
                ours.removeHandler(handler)
        ours.setLevel(before[0])
        ours.propagate = before[1]
        metrics.uninstall()  # replica_settings sent the figures to Ray's metrics
        for handler in _all_handlers():
            for masking in [f for f in handler.filters if isinstance(f, PersonalDataFilter)]:
                handler.removeFilter(masking)
    assert "WARNING mas.runs run r1: customer [手机号], [邮箱]" in stderr.getvalue()


def _all_handlers() -> list[logging.Handler]:
    loggers = [logging.getLogger(), *(v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger))]
    return [h for logger in loggers for h in logger.handlers] + [logging.lastResort]


def test_uvicorns_access_formatter_still_reads_the_masked_arguments() -> None:
    from uvicorn.logging import AccessFormatter

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False))
    handler.addFilter(PersonalDataFilter())
    logger = logging.getLogger("tests.log_masking.access")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning('%s - "%s %s HTTP/%s" %d', "10.0.0.7:5123", "GET", f"/v1/memory/search?q={PHONE}", "1.1", 200)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert out.getvalue() == '10.0.0.7:5123 - "GET /v1/memory/search?[已脱敏] HTTP/1.1" 200 OK\n'
