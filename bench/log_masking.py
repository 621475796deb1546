"""What the personal-data log filter (``telemetry.log_masking``) costs per log line: the same records formatted by one
handler with and without the filter, in alternating rounds so a busy machine slows both alike; CPU is the whole
process's user + system time (``os.times``).

The records are the shapes a turn logs: the per-run JSON line of ``mas.runs``, a warning with ids, an access-log
line with a query string, and an exception with a traceback.

    .venv/bin/python bench/log_masking.py [--records 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telemetry.log_masking import PersonalDataFilter  # noqa: E402

RUN_LINE = json.dumps({"event": "run.finished", "request_id": "7f3c" * 8, "run_id": "3243e51d-83b2-4a0f-b8db-cf47976f40fd",
                       "tenant": "glow", "thread": "5fc9197d-d9b4-4723-ab1a-557cbf0aa34b", "mode": "wait",
                       "outcome": "completed", "code": None, "model": "offline",
                       "phases_ms": {"queued": 0, "context": 3.2, "agents": 20.1, "first_token": 25.0, "total": 60.2}})


def records() -> list[logging.LogRecord]:
    try:
        raise ConnectionError("Redis 127.0.0.1:6379 unreachable")
    except ConnectionError:
        exc_info = sys.exc_info()
    return [
        logging.LogRecord("mas.runs", logging.INFO, __file__, 1, "mas.runs %s", (RUN_LINE,), None),
        logging.LogRecord("mas.runs", logging.WARNING, __file__, 1, "run %s of tenant %s lost its thread lease",
                          ("3243e51d-83b2-4a0f-b8db-cf47976f40fd", "glow"), None),
        logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                          ("127.0.0.1:51234", "GET", "/v1/memory/search?q=%E8%BF%87%E6%95%8F&thread_id=abc", "1.1", 200), None),
        logging.LogRecord("mas.erasure", logging.WARNING, __file__, 1, "erasure %s stopped", ("e-1",), exc_info),
    ]


def cpu_per_record(count: int, masked: bool) -> float:
    handler = logging.StreamHandler(open(os.devnull, "w"))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    if masked:
        handler.addFilter(PersonalDataFilter())
    shapes = records()
    start = os.times()
    for index in range(count):
        template = shapes[index % len(shapes)]
        record = logging.makeLogRecord(template.__dict__ | {"exc_text": None})  # a fresh record, as each log call makes
        handler.handle(record)
    end = os.times()
    handler.close()
    return ((end.user - start.user) + (end.system - start.system)) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    plain, masked = [], []
    for _ in range(args.rounds):
        plain.append(cpu_per_record(args.records, masked=False))
        masked.append(cpu_per_record(args.records, masked=True))
    base, filtered = statistics.median(plain), statistics.median(masked)
    print(f"CPU per log record, median of {args.rounds} rounds of {args.records}: "
          f"unfiltered {base * 1e6:.1f} us, masked {filtered * 1e6:.1f} us ({filtered / base:.2f}x, "
          f"+{(filtered - base) * 1e6:.1f} us)")


if __name__ == "__main__":
    main()
