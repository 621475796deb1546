"""Personal data masked in every log line, whoever logs it: a ``logging.Filter`` put on the process's handlers.

The service's own log calls name ids, counts and types, never customer text; this filter is the net under them and
under third-party loggers (an exception whose message quotes a bound parameter or a model's output). It rewrites the
record in place, before any formatter sees it: the final message (or its string arguments, when masking them one by
one is enough) and the exception and stack text, each cut to a bound, query strings withheld, then masked with
``telemetry.masking.mask_text``: its cost is linear in a bounded text. A record with nothing to mask is left as it is.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from telemetry.masking import WITHHELD, mask_text

MAX_MESSAGE_CHARS = 4_000
MAX_TRACE_CHARS = 16_000
# A URL's or a request path's query string (uvicorn's access log and httpx print whole URLs; ``q=`` of a search is
# what a customer typed, percent-encoded past any pattern): the path is kept, the query withheld.
_QUERY = re.compile(r"(?<=[A-Za-z0-9_/.~-])\?[^\s\"'<>]+")
# A token (number, e-mail address...) cut by the bound is dropped whole: half a phone number still identifies.
_CUT_TOKEN = re.compile(r"[0-9A-Za-z_.@+%-]{1,80}$")
_NOTE_CHARS = 60  # room for the note, so a bounded text is within the bound and a second pass keeps it as it is
# Third-party loggers whose DEBUG lines print bound values verbatim (aiosqlite: every statement with its parameters, a
# customer's message or allergy included, which no pattern can mask): held at INFO while masking is installed.
VERBATIM_DEBUG_LOGGERS = ("aiosqlite",)


def bounded_mask(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters (a note says how many were dropped), then masked, query strings
    withheld."""
    if len(text) > limit:
        kept = _CUT_TOKEN.sub("", text[:limit - _NOTE_CHARS])
        text = f"{kept}… [{len(text) - len(kept)} characters not logged]"
    if "?" in text:
        text = _QUERY.sub(f"?{WITHHELD}", text)
    return mask_text(text)


class PersonalDataFilter(logging.Filter):
    """Masks a record's message, exception text and stack text in place; never drops a record. A record that goes
    through a second filtered handler is masked again, which leaves it as it is."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: logging's error report would print them unmasked
            record.msg, record.args = bounded_mask(f"{record.msg} [log arguments did not format]", MAX_MESSAGE_CHARS), None
        else:
            masked = bounded_mask(message, MAX_MESSAGE_CHARS)
            if masked != message:  # else the record stays as it was, its arguments too
                record.msg, record.args = _masked_in_shape(record, masked) or (masked, None)
        if record.exc_info and not record.exc_text:
            # Formatters (ours, uvicorn's, Ray's) print ``exc_text`` when it is set instead of formatting it again.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = bounded_mask(record.exc_text, MAX_TRACE_CHARS)
        if record.stack_info:
            record.stack_info = bounded_mask(record.stack_info, MAX_TRACE_CHARS)
        return True


def _masked_in_shape(record: logging.LogRecord, masked: str) -> tuple[str, tuple[object, ...]] | None:
    """The format and its string arguments masked one by one, when they still merge into ``masked``: formatters that
    read the arguments (uvicorn's access log unpacks them) keep working. None when masking the parts is not enough
    (personal data inside a dict, a number, an object's text, or split across arguments)."""
    if not isinstance(record.msg, str) or not isinstance(record.args, tuple) or not record.args:
        return None
    args = tuple(bounded_mask(arg, MAX_MESSAGE_CHARS) if isinstance(arg, str) else arg for arg in record.args)
    msg = bounded_mask(record.msg, MAX_MESSAGE_CHARS)
    try:
        return (msg, args) if msg % args == masked else None
    except Exception:  # the masked parts no longer fit the format
        return None


def install_log_masking() -> Callable[[], None]:
    """Put the filter on every handler configured now (the root's, every logger's, and logging's last resort), hold
    ``VERBATIM_DEBUG_LOGGERS`` at INFO, and return what undoes both (what this call changed only). Handlers added
    later are not covered: install after logging is set up (uvicorn's, Ray Serve's, the replica's own)."""
    added = [handler for handler in _handlers() if not any(isinstance(f, PersonalDataFilter) for f in handler.filters)]
    for handler in added:
        handler.addFilter(_FILTER)
    levels = {name: logger.level for name in VERBATIM_DEBUG_LOGGERS
              if (logger := logging.getLogger(name)).level < logging.INFO}
    for name in levels:
        logging.getLogger(name).setLevel(logging.INFO)

    def uninstall() -> None:
        for handler in added:
            handler.removeFilter(_FILTER)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)

    return uninstall


_FILTER = PersonalDataFilter()


def _handlers() -> list[logging.Handler]:
    loggers = [logging.getLogger(), *(logger for logger in list(logging.Logger.manager.loggerDict.values())
                                     if isinstance(logger, logging.Logger))]
    handlers = [handler for logger in loggers for handler in logger.handlers]
    return list(dict.fromkeys([*handlers, *([logging.lastResort] if logging.lastResort else [])]))
