"""Which certificates each pool holds, and in which state: a read model of the event store.

It follows the application's notification log by polling (SQLite cannot subscribe), decoding only
the few events that move a certificate in or out of a pool. It may lag behind other processes;
that is safe, because a reservation is decided by the event store's optimistic concurrency, not by
this index: a stale candidate costs one retry, never a duplicate.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterable
from typing import Final
from uuid import UUID

import attrs
from eventsourcing.persistence import ApplicationRecorder, Mapper

from gcp_domain.certificate import GiftCertificate
from gcp_domain.vocabulary import CertificateState

AVAILABLE: Final = "available"
RESERVED: Final = "reserved"
ISSUED: Final = "issued"
CANCELLED: Final = "cancelled"

G = GiftCertificate
# Event topic -> the pool level the certificate moves to.
_MOVES: Final = {
    G.Created.TOPIC: AVAILABLE,
    G.Reserved.TOPIC: RESERVED,
    G.ReservationReleased.TOPIC: AVAILABLE,
    G.Issued.TOPIC: ISSUED,
    G.Cancelled.TOPIC: CANCELLED,
}


def level_of(state: CertificateState) -> str:
    if state is CertificateState.AVAILABLE:
        return AVAILABLE
    if state is CertificateState.RESERVED:
        return RESERVED
    if state is CertificateState.CANCELLED:
        return CANCELLED
    return ISSUED


@attrs.frozen
class PoolLevels:
    pool: str
    available: int
    reserved: int
    issued: int
    cancelled: int


class _RandomSet:
    """A set with O(1) add, discard and random pop: concurrent reservers in other processes
    pick different candidates with high probability."""

    def __init__(self) -> None:
        self._items: list[UUID] = []
        self._where: dict[UUID, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: UUID) -> None:
        if item not in self._where:
            self._where[item] = len(self._items)
            self._items.append(item)

    def discard(self, item: UUID) -> None:
        index = self._where.pop(item, None)
        if index is None:
            return
        last = self._items.pop()
        if last != item:
            self._items[index] = last
            self._where[last] = index

    def pop_random(self, rng: random.Random) -> UUID | None:
        if not self._items:
            return None
        item = self._items[rng.randrange(len(self._items))]
        self.discard(item)
        return item


@attrs.define
class _Entry:
    pool: str
    level: str
    version: int


class PoolIndex:
    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper[UUID],
        *,
        page_size: int = 5000,
        refresh_interval: float = 0.5,
    ) -> None:
        self._recorder = recorder
        self._mapper = mapper
        self._page_size = page_size
        self._refresh_interval = refresh_interval
        self._entries: dict[UUID, _Entry] = {}
        self._available: dict[str, _RandomSet] = {}
        self._counts: dict[str, Counter[str]] = {}
        self._position = 0
        self._last_catch_up = 0.0
        self._data_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._rng = random.SystemRandom()

    @property
    def position(self) -> int:
        """The last notification id this index has read."""
        return self._position

    def catch_up(self) -> int:
        """Reads what was recorded since the last call; returns how many notifications."""
        read = 0
        with self._read_lock:
            while True:
                page = self._recorder.select_notifications(
                    start=self._position + 1, limit=self._page_size
                )
                if not page:
                    break
                moves = []
                for notification in page:
                    level = _MOVES.get(notification.topic)
                    if level is None:
                        continue
                    pool = None
                    if level is AVAILABLE and notification.topic == G.Created.TOPIC:
                        created = self._mapper.to_domain_event(notification)
                        assert isinstance(created, GiftCertificate.Created)
                        pool = created.pool
                    oid = notification.originator_id
                    certificate_id = oid if isinstance(oid, UUID) else UUID(oid)
                    moves.append((certificate_id, notification.originator_version, level, pool))
                with self._data_lock:
                    for certificate_id, version, level, pool in moves:
                        self._move(certificate_id, version, level, pool)
                self._position = page[-1].id
                read += len(page)
                if len(page) < self._page_size:
                    break
            self._last_catch_up = time.monotonic()
        return read

    def refresh_if_stale(self) -> None:
        if time.monotonic() - self._last_catch_up >= self._refresh_interval:
            self.catch_up()

    def observe(self, certificate: GiftCertificate) -> None:
        """Applies this process's own write at once, without waiting for the next catch-up."""
        with self._data_lock:
            self._move(
                certificate.id, certificate.version, level_of(certificate.state), certificate.pool
            )

    def observe_all(self, certificates: Iterable[GiftCertificate]) -> None:
        for certificate in certificates:
            self.observe(certificate)

    def take_available(self, pool: str) -> UUID | None:
        """Removes and returns a random available certificate of `pool` (None if it has none)."""
        with self._data_lock:
            candidates = self._available.get(pool)
            return candidates.pop_random(self._rng) if candidates else None

    def give_back(self, certificate_id: UUID) -> None:
        """Returns an untouched candidate (the reservation failed for another reason)."""
        with self._data_lock:
            entry = self._entries.get(certificate_id)
            if entry is not None and entry.level == AVAILABLE:
                self._available.setdefault(entry.pool, _RandomSet()).add(certificate_id)

    def levels(self, pool: str) -> PoolLevels:
        with self._data_lock:
            counts = self._counts.get(pool, Counter())
            return PoolLevels(
                pool=pool,
                available=counts[AVAILABLE],
                reserved=counts[RESERVED],
                issued=counts[ISSUED],
                cancelled=counts[CANCELLED],
            )

    def pools(self) -> list[str]:
        with self._data_lock:
            return sorted(self._counts)

    def _move(self, certificate_id: UUID, version: int, level: str, pool: str | None) -> None:
        entry = self._entries.get(certificate_id)
        if entry is None:
            if pool is None:
                return  # Created not read yet: the catch-up brings the certificate in whole.
            entry = _Entry(pool, level, version)
            self._entries[certificate_id] = entry
            self._counts.setdefault(pool, Counter())[level] += 1
        elif version <= entry.version:
            return  # Already applied (our own write, observed before the catch-up read it).
        else:
            counts = self._counts[entry.pool]
            counts[entry.level] -= 1
            counts[level] += 1
            entry.level = level
            entry.version = version
        available = self._available.setdefault(entry.pool, _RandomSet())
        if level == AVAILABLE:
            available.add(certificate_id)
        else:
            available.discard(certificate_id)
