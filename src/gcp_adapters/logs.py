"""Structured logs: one JSON object per line, for a log shipper to read without parsing text.

Each line has `time` (RFC 3339, UTC, milliseconds), `level`, `logger`, `message`, `requestId`
while an HTTP request is being handled (the `request_id_var` context variable, set by the
request id middleware), `exception` when one is logged, and every `extra={...}` field of the
call. Nothing here logs bodies: what a line holds is what the caller put in its message and
extras, and no caller puts a request or response body there (a CVC never reaches a log).

`gcp serve` installs it with `install_json_logging()`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final, TextIO

request_id_var: ContextVar[str | None] = ContextVar("gcp_request_id", default=None)

# Repeated messages (a broker's complaints, refusals of one kind) at most once per this long.
QUIET_INTERVAL: Final = 60.0

# The attributes every LogRecord has; anything else on a record came from `extra`.
_STANDARD: Final = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON (see the module's doc for the fields)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["requestId"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def install_json_logging(
    level: int = logging.INFO, stream: TextIO | None = None, *, force: bool = False
) -> None:
    """Makes the root logger write JSON lines to `stream` (stderr). Like `basicConfig`, it
    leaves a root logger that already has handlers alone (a test runner's, say) unless
    `force`, which replaces them."""
    root = logging.getLogger()
    if root.handlers and not force:
        return
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)


class OncePerInterval(logging.Filter):
    """Passes each distinct (logger, level, message shape) at most once per `interval`; the
    next one it passes says how many it held back. `shape` says which messages are the same
    (by default: the same text)."""

    def __init__(
        self,
        interval: float = QUIET_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
        *,
        shape: Callable[[str], str] = str,
    ) -> None:
        super().__init__()
        self._shape = shape
        self._interval = interval
        self._monotonic = monotonic
        self._lock = threading.Lock()  # librdkafka logs from its own threads
        self._last: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, self._shape(record.getMessage()))
        now = self._monotonic()
        with self._lock:
            passed_at, held = self._last.get(key, (None, 0))
            if passed_at is not None and now - passed_at < self._interval:
                self._last[key] = (passed_at, held + 1)
                return False
            self._last[key] = (now, 0)
            if len(self._last) > 1000:  # distinct messages are few; never grow without bound
                self._forget_before(now - self._interval)
        if held:
            record.msg = f"{record.getMessage()} (and {held} more like it in the last interval)"
            record.args = None
        return True

    def forget(self) -> None:
        """Starts afresh: every message is news again (a test's isolation)."""
        with self._lock:
            self._last.clear()

    def _forget_before(self, moment: float) -> None:
        self._last = {k: v for k, v in self._last.items() if v[0] >= moment}


_NUMBER: Final = re.compile(r"\d+(?:\.\d+)?")


def without_numbers(message: str) -> str:
    """The shape of a message whose repeats differ only in counts and seconds."""
    return _NUMBER.sub("N", message)


def quiet_logger(name: str) -> logging.Logger:
    """A logger for what repeats while a dependency is away (a batch retried, a step failed):
    each kind of message at most once per QUIET_INTERVAL, counts and seconds aside."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, OncePerInterval) for f in logger.filters):
        logger.addFilter(OncePerInterval(shape=without_numbers))
    return logger
