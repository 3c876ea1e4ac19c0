"""When an inbound batch closes: group commit on the writer's pace.

A batch is one transaction, so larger batches cost less per record; but every record waits for
its batch. The batch therefore grows only while it would have to wait anyway: while the batch
before it is still being stored (the pipelined writer is busy). Once the writer is free, what
has arrived goes at once. Idle input sends a lone payment through without waiting; steady
traffic makes batches of about one store's duration; a backlog fills a batch at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final, TypeVar

Record = TypeVar("Record")

# While the writer is busy: how long a wait that brings no more records closes the batch (the
# input is idle), ...
IDLE_WAIT: Final = 0.005
# ... and how long after its first record the batch closes at the latest, so that a slow store
# does not hold the records that keep coming for longer than this.
BATCH_WINDOW: Final = 0.05

Consume = Callable[[int, float], list[Record]]
"""librdkafka's consume(num_messages, timeout): what is queued, up to `num_messages`; it waits
until it has them all or `timeout` is up (0: returns what is queued now)."""


def gather(
    consume: Consume[Record],
    batch_size: int,
    first_wait: float,
    writer_busy: Callable[[], bool],
) -> list[Record]:
    """The next batch: up to `batch_size` records, waiting at most `first_wait` for the first.

    The first record is asked for alone (consume waits until it has all it was asked for); then
    what is already queued is taken, and, while `writer_busy()`, what keeps coming, until a
    wait of IDLE_WAIT brings nothing or BATCH_WINDOW has passed since the first record."""
    records = consume(1, first_wait)
    deadline = time.monotonic() + BATCH_WINDOW
    while records and len(records) < batch_size:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        wait = min(IDLE_WAIT, left) if writer_busy() else 0.0
        more = consume(batch_size - len(records), wait)
        if not more:
            break
        records += more
    return records
