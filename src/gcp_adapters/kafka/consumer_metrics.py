"""The inbound consumer's counters, thread-safe, for /metrics and the tests."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import attrs

from gcp_app.inbound import Handled, Outcome

Partition = tuple[str, int]


@attrs.frozen
class ConsumerStats:
    """A consistent copy of the counters (see ConsumerMetrics)."""

    consumed: int
    applied: int
    ignored: int
    duplicates: int
    already_consumed: int
    dead_lettered: int
    batches: int
    last_batch_size: int
    failed_batches: int
    kafka_errors: int
    lag: Mapping[Partition, int]
    conflicts: int = 0


class ConsumerMetrics:
    """Thread-safe counters of one consumer, for the metrics endpoint and the tests.

    `consumed` counts records read (each once, however often its batch is retried);
    the outcomes count records handled: `applied`, `ignored` (valid, not about certificates),
    `duplicates` (a messageId seen before), `already_consumed` (a position the database had
    recorded: a re-read after a crash or a rebalance), `dead_lettered` (the DLQ count).
    `lag` is, per partition read, the high watermark minus the next offset to read.
    `conflicts` counts attempts redone because a concurrent writer (another consumer, an HTTP
    command, a timer) changed what they changed: a steady rise means consumers contend.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._consumed = 0
        self._outcomes: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
        self._batches = 0
        self._last_batch_size = 0
        self._failed_batches = 0
        self._kafka_errors = 0
        self._conflicts = 0
        self._lag: dict[Partition, int] = {}

    def record_consumed(self, count: int) -> None:
        with self._lock:
            self._consumed += count

    def record_batch(self, handled: Sequence[Handled]) -> None:
        with self._lock:
            for item in handled:
                self._outcomes[item.outcome] += 1
            self._batches += 1
            self._last_batch_size = len(handled)

    def record_failure(self) -> None:
        with self._lock:
            self._failed_batches += 1

    def record_conflicts(self, total: int) -> None:
        with self._lock:
            self._conflicts = total

    def record_kafka_error(self) -> None:
        with self._lock:
            self._kafka_errors += 1

    def record_lag(self, lag: Mapping[Partition, int]) -> None:
        with self._lock:
            self._lag.update(lag)

    def forget_partitions(self, partitions: Sequence[Partition]) -> None:
        with self._lock:
            for partition in partitions:
                self._lag.pop(partition, None)

    def snapshot(self) -> ConsumerStats:
        with self._lock:
            return ConsumerStats(
                consumed=self._consumed,
                applied=self._outcomes[Outcome.APPLIED],
                ignored=self._outcomes[Outcome.IGNORED],
                duplicates=self._outcomes[Outcome.DUPLICATE],
                already_consumed=self._outcomes[Outcome.ALREADY_CONSUMED],
                dead_lettered=self._outcomes[Outcome.DEAD_LETTERED],
                batches=self._batches,
                last_batch_size=self._last_batch_size,
                failed_batches=self._failed_batches,
                kafka_errors=self._kafka_errors,
                lag=dict(self._lag),
                conflicts=self._conflicts,
            )
