"""What the Kafka clients (librdkafka) say, in the service's logs and without flooding them.

Every client of the service logs through LIBRDKAFKA (the `logger` setting), so its lines are
JSON like the rest instead of raw text on stderr. A broker that is down makes librdkafka repeat
the same complaint every few milliseconds; OncePerInterval lets each distinct message through
once per interval and says with the next one how many it held back. Errors are also counted in
the metrics, one by one.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Final

# Each distinct message at most once per this many seconds.
INTERVAL: Final = 60.0

LIBRDKAFKA: Final = logging.getLogger("gcp.kafka.librdkafka")

# What varies between repeats of one complaint: librdkafka's "(after 0ms in state CONNECT)" or
# "(after 3ms in state UP, 5 identical error(s) suppressed)".
_VARYING: Final = re.compile(
    r"\s*\(after \d+ms in state \w+(?:, \d+ identical error\(s\) suppressed)?\)"
)


def shape_of(message: str) -> str:
    """`message` without what changes from one repeat to the next."""
    return _VARYING.sub("", message)


class OncePerInterval(logging.Filter):
    """Passes each distinct (logger, level, message shape) at most once per `interval`."""

    def __init__(
        self, interval: float = INTERVAL, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._interval = interval
        self._monotonic = monotonic
        self._lock = threading.Lock()  # librdkafka logs from its own threads
        self._last: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, shape_of(record.getMessage()))
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

    def _forget_before(self, moment: float) -> None:
        self._last = {k: v for k, v in self._last.items() if v[0] >= moment}


class _KnownConfigurationWarning(logging.Filter):
    """librdkafka warns on every start of the relay that enable.gapless.guarantee is
    experimental: it is chosen on purpose (gcp_adapters.kafka.relay), so the warning is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("CONFWARN") and "enable.gapless.guarantee" in message)


LIBRDKAFKA.addFilter(_KnownConfigurationWarning())
LIBRDKAFKA.addFilter(OncePerInterval())
