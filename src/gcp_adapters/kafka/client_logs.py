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
from typing import Final

from gcp_adapters.logs import OncePerInterval

LIBRDKAFKA: Final = logging.getLogger("gcp.kafka.librdkafka")

# What varies between repeats of one complaint: librdkafka's "(after 0ms in state CONNECT)" or
# "(after 3ms in state UP, 5 identical error(s) suppressed)".
_VARYING: Final = re.compile(
    r"\s*\(after \d+ms in state \w+(?:, \d+ identical error\(s\) suppressed)?\)"
)


def shape_of(message: str) -> str:
    """`message` without what changes from one repeat to the next."""
    return _VARYING.sub("", message)


class _KnownConfigurationWarning(logging.Filter):
    """librdkafka warns on every start of the relay that enable.gapless.guarantee is
    experimental: it is chosen on purpose (gcp_adapters.kafka.relay), so the warning is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("CONFWARN") and "enable.gapless.guarantee" in message)


LIBRDKAFKA.addFilter(_KnownConfigurationWarning())
LIBRDKAFKA.addFilter(OncePerInterval(shape=shape_of))
