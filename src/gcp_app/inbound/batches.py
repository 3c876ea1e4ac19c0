"""Inbound batches, exactly once: a batch's effects and its consumed positions in ONE
transaction.

A batch of consumed messages (one poll) is handled in one unit of work: every aggregate it
touches is loaded once and changed in arrival order, then everything is saved in ONE
transaction together with the consumed positions (`trackings`). A crash before the commit
applies nothing; after it, the positions say so and nothing is applied again. A message the
service cannot act on becomes a dead letter in that same transaction.

`handle` does it all at once; `decide` and `store` are its two halves, for pipelining
(gcp_app.inbound.pipeline).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final
from uuid import UUID

import attrs
from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import IntegrityError, Tracking

from gcp_app.errors import ConcurrentUpdate
from gcp_app.inbound.cache import AggregateCache
from gcp_app.inbound.envelopes import Envelope, Handled, Outcome, inbox_source
from gcp_app.inbound.matcher import Matcher
from gcp_app.inbound.work import BatchUnitOfWork
from gcp_app.pool_rows import POOL_ROWS, row_of
from gcp_domain.certificate import GiftCertificate

if TYPE_CHECKING:
    from gcp_app.application import GiftCertificates

# Redoes of a single message that keeps meeting concurrent writers before the batch fails (the
# consumer then retries it after a backoff).
CONFLICT_RETRIES: Final = 4


@attrs.frozen
class Decided:
    """A batch decided on the consumer's thread, to be stored (`InboundBatches.store`) on another.

    `collected` holds the batch's events, taken from the aggregates when it was decided (the
    copies take the next batch's changes before this one is stored), and its positions;
    None when every record was consumed already (the pool index's rows are in it too);
    `pinned` the cached copies held until it is stored."""

    envelopes: Sequence[Envelope]
    handled: list[Handled]
    collected: ProcessingEvent[UUID] | None
    pinned: list[UUID]


class InboundBatches:
    """Handles batches of consumed messages for one application."""

    def __init__(self, app: GiftCertificates, *, cache_size: int | None = None) -> None:
        """`cache_size`: aggregates kept between batches (default: GCP_MATCHER_CACHE_SIZE)."""
        self._store = app.store
        self._matcher = Matcher(app.use_cases, app.use_cases.context.defaults)
        self._positions: dict[str, int | None] = {}
        self.conflicts = 0  # attempts redone after meeting a concurrent writer
        self._cache = AggregateCache(
            app.settings.matcher_cache_size if cache_size is None else cache_size
        )

    @property
    def cached(self) -> int:
        """How many aggregates are kept between batches (at most the cache's size, and the
        copies of a batch being stored)."""
        return len(self._cache)

    def position(self, topic: str, partition: int) -> int | None:
        """The last offset of (topic, partition) whose effects are recorded (None: none yet)."""
        return self._store.inbox.max_tracking_id(inbox_source(topic, partition))

    def handle(self, envelopes: Sequence[Envelope]) -> list[Handled]:
        """Applies a batch exactly once: all its effects and positions in one transaction.

        A batch that meets a concurrent writer (another consumer changing the same certificate,
        an HTTP command, a timer) is redone against what is stored, in halves: a smaller
        transaction is done sooner and so less likely to meet the rival again, whereas redoing
        the whole batch can lose to a second consumer's batches over and over. Each half holds a
        prefix of what is left of every partition, so positions still advance in order; a half
        that was stored stays stored if a later one fails (its positions say so)."""
        return self._handle(envelopes, CONFLICT_RETRIES)

    def _handle(self, envelopes: Sequence[Envelope], retries: int) -> list[Handled]:
        try:
            return self._attempt(envelopes)
        except IntegrityError:
            # A concurrent writer changed an aggregate, or another consumer recorded these
            # positions: redo against what is stored.
            self.conflicts += 1
            self._positions.clear()
        if len(envelopes) > 1:
            half = len(envelopes) // 2
            return [
                *self._handle(envelopes[:half], retries),
                *self._handle(envelopes[half:], retries),
            ]
        if retries == 0:
            raise ConcurrentUpdate("the batch kept conflicting with concurrent writers")
        return self._handle(envelopes, retries - 1)

    def _attempt(self, envelopes: Sequence[Envelope]) -> list[Handled]:
        work = BatchUnitOfWork(self._store, self._cache)
        try:
            return self._apply(work, envelopes)
        except BaseException:
            # What the batch changed in memory was not stored: forget those copies. The rest
            # of the cache is sound (every remembered copy is caught up before it is used).
            self._cache.forget(work.touched())
            raise

    def _apply(self, work: BatchUnitOfWork, envelopes: Sequence[Envelope]) -> list[Handled]:
        handled, last = self._decide_all(work, envelopes)
        if last:
            self._store.save(*work.changed(), trackings=_trackings(last))
            self._positions.update(last)
            self._cache.keep(work.loaded())
        return handled

    def _decide_all(
        self, work: BatchUnitOfWork, envelopes: Sequence[Envelope]
    ) -> tuple[list[Handled], dict[str, int]]:
        """Every record's outcome, its changes made on the unit of work's copies; and the last
        offset of each source that was not consumed already."""
        handled = []
        last: dict[str, int] = {}
        work.prefetch(
            envelope.message
            for envelope in envelopes
            if envelope.message is not None and not self._already_consumed(envelope)
        )
        for envelope in envelopes:
            recorded = self._recorded_position(envelope.source)
            if recorded is not None and envelope.offset <= recorded:
                handled.append(Handled(envelope, Outcome.ALREADY_CONSUMED))
                continue
            handled.append(self._matcher.handle(work, envelope))
            last[envelope.source] = max(envelope.offset, last.get(envelope.source, -1))
        return handled, last

    # ------------------------------------------------------------------ pipelined batches

    def decide(self, envelopes: Sequence[Envelope]) -> Decided:
        """The first half of `handle`, for pipelining: the batch's outcomes and events, with
        nothing stored. Optimistic: the positions and the cache already say the batch is
        stored, and its copies stay pinned, so that the next batch can be decided on top of it
        while `store` runs. Exactly one of `stored(decided)` (after `store` succeeded) or
        `reset()` (after it failed: what was decided on top of it is void too) must follow.
        No conflict handling here: a failed store is redone through `handle`."""
        work = BatchUnitOfWork(self._store, self._cache)
        try:
            handled, last = self._decide_all(work, envelopes)
        except BaseException:
            self._cache.forget(work.touched())
            raise
        if not last:
            return Decided(envelopes, handled, None, [])
        collected: ProcessingEvent[UUID] = ProcessingEvent()
        changed_aggregates = work.changed()
        # Taken now, like the events: the pool index's rows are stored with them.
        collected.saved_kwargs[POOL_ROWS] = [
            row_of(c) for c in changed_aggregates if isinstance(c, GiftCertificate)
        ]
        for changed in changed_aggregates:
            # Taken now: the copies take the next batch's changes before this one is stored.
            collected.events.extend(changed.collect_events())
        collected.saved_kwargs["trackings"] = _trackings(last)
        self._positions.update(last)
        loaded = work.loaded()
        self._cache.keep(loaded)
        return Decided(envelopes, handled, collected, self._cache.pin(loaded))

    def store(self, decided: Decided) -> None:
        """Records a decided batch's events and positions in ONE transaction. Thread-safe
        against `decide` of the next batch: it reads only `decided`, never the copies."""
        if decided.collected is not None:
            self._store.record_collected(decided.collected)

    def stored(self, decided: Decided) -> None:
        """After `store` succeeded: the copies are in the store now."""
        self._cache.unpin(decided.pinned)

    def reset(self) -> None:
        """Forgets every copy and position (a store failed: what was decided on top of it was
        decided on changes that are not in the store). The next batches read the store."""
        self._cache.clear()
        self._positions.clear()

    def count_conflict(self) -> None:
        """A pipelined store met a concurrent writer (counted like a redone attempt)."""
        self.conflicts += 1

    def _already_consumed(self, envelope: Envelope) -> bool:
        recorded = self._recorded_position(envelope.source)
        return recorded is not None and envelope.offset <= recorded

    def _recorded_position(self, source: str) -> int | None:
        if source not in self._positions:
            self._positions[source] = self._store.inbox.max_tracking_id(source)
        return self._positions[source]


def _trackings(last: dict[str, int]) -> list[Tracking]:
    return [Tracking(source, offset) for source, offset in last.items()]
