"""Aggregates kept between inbound batches, so that a hot certificate or order is not read
again for every batch."""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable
from typing import Any
from uuid import UUID


class AggregateCache:
    """Aggregates as the last committed batch left them, so that a hot certificate or order is
    not read again for every batch. Safe because a remembered copy is caught up with what others
    stored since before it is used, and every change a batch makes is a write that the store
    checks against the version: if another writer got there first, the save fails, the copies
    the batch touched are dropped and the batch is redone from the store.

    Pinned copies (`pin`: a pipelined batch being stored) are caught up too. One the batch
    changed is ahead of the store: a rival can have stored past its version only by storing
    the versions the batch is about to store, so that store fails and everything decided on
    the copy is void (`Matcher.reset`). One it only read is caught up like any other."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[UUID, Any] = OrderedDict()
        # Copies of a batch decided but not yet stored (pipelined): held whatever the size, so
        # that the next batch finds them here, never in the store, where they are not yet.
        self._pinned: dict[UUID, Any] = {}
        self._pins: Counter[UUID] = Counter()

    def __len__(self) -> int:
        """How many copies are held, pinned ones included."""
        return len(self._items.keys() | self._pinned.keys())

    def get(self, aggregate_id: UUID) -> Any:
        found = self._items.get(aggregate_id)
        if found is not None:
            self._items.move_to_end(aggregate_id)
            return found
        return self._pinned.get(aggregate_id)

    def keep(self, aggregates: Iterable[Any]) -> None:
        for aggregate in aggregates:
            self._items[aggregate.id] = aggregate
            self._items.move_to_end(aggregate.id)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def pin(self, aggregates: Iterable[Any]) -> list[UUID]:
        """Holds the copies until `unpin` (a batch's may be pinned again by the next)."""
        pinned = []
        for aggregate in aggregates:
            self._pinned[aggregate.id] = aggregate
            self._pins[aggregate.id] += 1
            pinned.append(aggregate.id)
        return pinned

    def unpin(self, aggregate_ids: Iterable[UUID]) -> None:
        for aggregate_id in aggregate_ids:
            if aggregate_id not in self._pins:
                continue  # forgotten meanwhile
            self._pins[aggregate_id] -= 1
            if self._pins[aggregate_id] <= 0:
                del self._pins[aggregate_id]
                self._pinned.pop(aggregate_id, None)

    @property
    def pinned(self) -> int:
        return len(self._pinned)

    def forget(self, aggregate_ids: Iterable[UUID]) -> None:
        for aggregate_id in aggregate_ids:
            self._items.pop(aggregate_id, None)
            self._pinned.pop(aggregate_id, None)
            self._pins.pop(aggregate_id, None)

    def clear(self) -> None:
        self._items.clear()
        self._pinned.clear()
        self._pins.clear()
