"""What repeats reaches the logs once per interval: librdkafka's complaints, a batch or a relay
step that keeps failing while the store is away."""

from __future__ import annotations

import logging

import pytest

from gcp_adapters.kafka.client_logs import shape_of
from gcp_adapters.logs import OncePerInterval, quiet_logger, without_numbers

REFUSED = (
    "FAIL [gcp-inbound#consumer-1] [thrd:127.0.0.1:1/bootstrap]: 127.0.0.1:1/bootstrap: "
    "Connect to ipv4#127.0.0.1:1 failed: Connection refused (after {ms}ms in state CONNECT)"
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(message: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("gcp.kafka.librdkafka", level, __file__, 1, message, None, None)


def test_repeats_that_differ_only_in_timing_have_one_shape() -> None:
    assert shape_of(REFUSED.format(ms=0)) == shape_of(REFUSED.format(ms=14))
    suppressed = REFUSED.format(ms=3).replace(")", ", 5 identical error(s) suppressed)")
    assert shape_of(suppressed) == shape_of(REFUSED.format(ms=0))
    assert "(after" not in shape_of(REFUSED.format(ms=0))


def test_each_distinct_message_passes_once_per_interval_then_says_what_it_held() -> None:
    clock = Clock()
    once = OncePerInterval(60.0, clock, shape=shape_of)

    passed = [once.filter(record(REFUSED.format(ms=ms))) for ms in range(100)]
    other = once.filter(record("1/1 brokers are down"))
    clock.now = 61.0
    again = record(REFUSED.format(ms=7))

    assert passed == [True] + [False] * 99
    assert other  # another complaint is news
    assert once.filter(again)
    assert again.getMessage().endswith("(and 99 more like it in the last interval)")
    assert not once.filter(record(REFUSED.format(ms=8)))


def test_the_same_text_at_another_level_is_another_message() -> None:
    once = OncePerInterval(60.0, Clock())
    assert once.filter(record("broker down", logging.WARNING))
    assert once.filter(record("broker down", logging.ERROR))


def test_it_remembers_a_bounded_number_of_messages() -> None:
    clock = Clock()
    once = OncePerInterval(1.0, clock)
    for n in range(5000):
        clock.now = n * 0.01
        once.filter(record(f"distinct complaint {n}"))
    assert len(once._last) <= 1001


def test_a_quiet_logger_says_a_repeated_failure_once_counts_and_seconds_aside(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = quiet_logger("gcp.test.quiet")
    assert quiet_logger("gcp.test.quiet") is failures
    assert len(failures.filters) == 1  # asked twice, filtered once
    caplog.set_level(logging.INFO, logger="gcp.test.quiet")

    for attempt in range(20):
        failures.error("batch of %d records failed; retrying in %.1f s", attempt, 0.5 * attempt)
    failures.error("another failure")

    said = [r.getMessage() for r in caplog.records if r.name == "gcp.test.quiet"]
    assert said == ["batch of 0 records failed; retrying in 0.0 s", "another failure"]
    assert without_numbers("in 0.5 s, 12 records") == "in N s, N records"
