"""When an inbound batch closes (gcp_adapters.kafka.batch_window), against a fake consume."""

from __future__ import annotations

import time
from collections import deque

from gcp_adapters.kafka.batch_window import IDLE_WAIT, gather


class FakeConsume:
    """librdkafka's consume(num_messages, timeout) over scripted arrivals: each call returns the
    next scripted list (cut to num_messages, the rest kept for the next call); an empty script
    returns nothing. Records each call's (num_messages, timeout)."""

    def __init__(self, *arrivals: list[int], sleep: bool = False) -> None:
        self.arrivals = deque(arrivals)
        self.calls: list[tuple[int, float]] = []
        self.sleep = sleep

    def __call__(self, num_messages: int, timeout: float) -> list[int]:
        self.calls.append((num_messages, timeout))
        if self.sleep:
            time.sleep(timeout)
        if not self.arrivals:
            return []
        batch = self.arrivals.popleft()
        if len(batch) > num_messages:
            self.arrivals.appendleft(batch[num_messages:])
        return batch[:num_messages]


def test_an_empty_poll_asks_once_and_waits_the_first_wait() -> None:
    consume = FakeConsume()
    assert gather(consume, 100, 0.2, writer_busy=lambda: True) == []
    assert consume.calls == [(1, 0.2)]


def test_with_the_writer_free_what_is_queued_goes_at_once() -> None:
    """A lone payment (or a fetch's worth) is not held: no wait after the first record."""
    consume = FakeConsume([1], [2, 3, 4])
    assert gather(consume, 100, 0.2, writer_busy=lambda: False) == [1, 2, 3, 4]
    assert consume.calls == [(1, 0.2), (99, 0.0), (96, 0.0)]


def test_while_the_writer_is_busy_the_batch_takes_what_keeps_coming() -> None:
    consume = FakeConsume([1], [2], [3, 4], [5])
    assert gather(consume, 100, 0.2, writer_busy=lambda: True) == [1, 2, 3, 4, 5]
    assert len(consume.calls) == 5  # the last wait brought nothing: the input is idle
    assert all(0 < timeout <= IDLE_WAIT for _, timeout in consume.calls[1:])


def test_the_batch_closes_once_the_writer_is_done() -> None:
    busy = deque([True, True, False])
    consume = FakeConsume([1], [2], [3], [4], [5], [6])
    batch = gather(consume, 100, 0.2, writer_busy=lambda: busy.popleft() if busy else False)
    assert batch == [1, 2, 3, 4, 5, 6]
    assert [timeout for _, timeout in consume.calls][3:] == [0.0, 0.0, 0.0, 0.0]


def test_a_full_batch_closes_at_once_and_asks_for_no_more_than_fits() -> None:
    consume = FakeConsume([1], list(range(2, 50)))
    assert gather(consume, 10, 0.2, writer_busy=lambda: True) == list(range(1, 11))
    assert consume.calls == [(1, 0.2), (9, IDLE_WAIT)]


def test_records_that_keep_coming_to_a_busy_writer_wait_no_longer_than_the_window() -> None:
    """Each wait brings one more record, for ever: the window (50 ms) closes the batch, long
    before it is full."""
    consume = FakeConsume(*([n] for n in range(10_000)), sleep=True)
    batch = gather(consume, 10_000, 0.2, writer_busy=lambda: True)
    assert 2 <= len(batch) < 1_000
