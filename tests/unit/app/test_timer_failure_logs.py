"""Failing timer ticks are logged as an operator wants them: the first with its traceback, one
line a minute while they go on, and the recovery; not a line per tick while the store is away."""

from __future__ import annotations

import logging

import pytest

from gcp_app.timers import FAILURE_LOG_INTERVAL, _Failing


def test_a_minute_of_failing_ticks_is_two_lines_and_the_recovery_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    failing = _Failing(monotonic=lambda: now[0])
    caplog.set_level(logging.INFO, logger="gcp_app.timers")

    for second in range(int(FAILURE_LOG_INTERVAL) + 1):  # a tick a second, each failing
        now[0] = float(second)
        try:
            raise ConnectionError("the store went away")
        except ConnectionError:
            failing.failed(1.0)
    failing.recovered()
    failing.recovered()  # ticking on: nothing more to say

    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [
        ("ERROR", "the timers' tick failed; trying again every 1.0 s"),
        ("WARNING", "the timers' tick is still failing (61 ticks so far)"),
        ("INFO", "the timers tick again after 61 failed ticks"),
    ]
    assert caplog.records[0].exc_info is not None
