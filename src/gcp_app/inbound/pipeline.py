"""Pipelined inbound batches: batch N is stored on a writer thread while batch N+1 is decided.

The Kafka adapter polls and hands each batch over (`pipelined`); this decides it on top of the
batch in flight (`InboundBatches.decide`, whose copies stay pinned until stored), waits for that
store, and hands the new one to the writer. Stores happen one at a time, in order. When a store
fails, what was decided on top of it is void: both batches are redone synchronously, in order,
through `InboundBatches.handle` (docs/kafka.md, "Pipelined batches"). The listener hears of each
batch once it is stored, and only then (the adapter commits Kafka's offsets there).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

import attrs
from eventsourcing.persistence import IntegrityError

from gcp_app.inbound.batches import Decided, InboundBatches
from gcp_app.inbound.envelopes import Envelope, Handled

logger = logging.getLogger("gcp.inbound")

Partition = tuple[str, int]


class BatchListener(Protocol):
    def batch_stored(self, batch: Sequence[Envelope], handled: Sequence[Handled]) -> None:
        """The batch's effects and positions are committed."""

    def store_failed(self) -> None:
        """A pipelined store failed (not for a conflict); the batch will be redone."""


@attrs.frozen
class InFlight:
    """A decided batch whose store runs on the writer thread."""

    decided: Decided
    stored: Future[None]


class InboundPipeline:
    """Not thread-safe: one thread (the consumer's) drives it; the writer is its own."""

    def __init__(self, batches: InboundBatches, listener: BatchListener) -> None:
        self.batches = batches
        self._listener = listener
        # Batches to redo through `InboundBatches.handle`, in order: one that failed, and after
        # a failed pipelined store, that batch and the one decided on top of it.
        self._redo: deque[list[Envelope]] = deque()
        self._in_flight: InFlight | None = None
        self._writer: ThreadPoolExecutor | None = None  # started by the first pipelined batch

    @property
    def in_flight(self) -> int:
        """Records of the batch being stored on the writer thread (0: none)."""
        return len(self._in_flight.decided.envelopes) if self._in_flight is not None else 0

    @property
    def storing(self) -> bool:
        """Whether the writer is still storing the batch in flight."""
        return self._in_flight is not None and not self._in_flight.stored.done()

    @property
    def waiting(self) -> int:
        """Records of the next batch to redo (0: none)."""
        return len(self._redo[0]) if self._redo else 0

    def queue(self, batch: list[Envelope]) -> None:
        """A batch to handle synchronously, after those queued already (`redo_next`)."""
        self._redo.append(batch)

    def redo_next(self) -> int:
        """The first queued batch through `InboundBatches.handle`: ONE transaction (or, on
        conflicts, halves of it), effects and positions together. Returns its size (0: none
        queued). Raises what handling raised; the batch stays first in the queue."""
        if not self._redo:
            return 0
        batch = self._redo[0]
        handled = self.batches.handle(batch)
        self._redo.popleft()
        self._listener.batch_stored(batch, handled)
        return len(batch)

    def pipelined(self, batch: list[Envelope]) -> None:
        """One step after a poll: decides `batch` while the previous batch is stored, waits for
        that store, then hands `batch` to the writer. An empty poll commits what is in flight.
        Batches queued to redo (a failed store) go first, synchronously."""
        if self._redo:  # a store flushed by a rebalance failed: this batch comes after it
            if batch:
                self._redo.append(batch)
            self.redo_next()
            return
        if not batch:
            self.flush()  # idle: what is in flight is committed without delay
            return
        decided = self._decide(batch)
        self.flush()
        if self._redo:
            # The previous batch failed, so this decision was taken on changes that are not in
            # the store: thrown away (the batches have been reset) and redone after it.
            self._redo.append(batch)
            self.redo_next()
            return
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gcp-inbound-store")
        self._in_flight = InFlight(decided, self._writer.submit(self.batches.store, decided))

    def flush(self) -> int:
        """Waits for the batch in flight, if any. Stored: the listener hears of it (returns its
        size). Failed: what was decided since is forgotten, and the batch is queued to be redone
        synchronously (returns 0). Never raises for the store."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is None:
            return 0
        decided = in_flight.decided
        try:
            in_flight.stored.result()
        except Exception as error:
            self._store_failed(decided, error)
            return 0
        self.batches.stored(decided)
        self._listener.batch_stored(decided.envelopes, decided.handled)
        return len(decided.envelopes)

    def reassigned(self) -> None:
        """New partitions: what the batches remember may have moved while another member of
        the group owned them. Call after `flush`."""
        self.batches.reset()

    def forget(self, partitions: Collection[Partition]) -> None:
        """Revoked partitions: what is left to redo of them, their next owner reads again from
        the recorded positions. Call after `flush`."""
        kept = (
            [e for e in batch if (e.topic, e.partition) not in partitions] for batch in self._redo
        )
        self._redo = deque(batch for batch in kept if batch)

    def close(self) -> None:
        """Stores the batch in flight; what is queued is left to be read again."""
        self.flush()
        self._redo.clear()
        if self._writer is not None:
            self._writer.shutdown(wait=True)

    def _decide(self, batch: list[Envelope]) -> Decided:
        try:
            return self.batches.decide(batch)
        except Exception:
            # It may have read the copies of the batch in flight: once that one is settled,
            # nothing decided in memory is trusted, and this batch is redone synchronously.
            self.flush()
            self.batches.reset()
            self._redo.append(batch)
            raise

    def _store_failed(self, decided: Decided, error: Exception) -> None:
        # Whatever was decided after this batch was decided on its changes: forget it all.
        self.batches.reset()
        self._redo.append(list(decided.envelopes))
        if isinstance(error, IntegrityError):
            # A concurrent writer got there first: redone against what is stored, at once.
            self.batches.count_conflict()
            return
        self._listener.store_failed()
        logger.error(
            "storing an inbound batch of %d records failed (%s); redoing it",
            len(decided.envelopes),
            type(error).__name__,
            exc_info=error,
        )
