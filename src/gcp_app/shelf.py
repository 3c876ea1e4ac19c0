"""Available certificates read ahead, so that a reservation needs no read of its own.

Reserving one certificate was a read (its events) and a write; under load the read is half the
round trips, and in a process whose event loop holds the GIL each round trip also waits for
the GIL to come back. The shelf takes available candidates from the pool index a pool at a
time, reads them in one query, and hands them out one by one. A copy on the shelf may have
gone stale (another process reserved it, support locked it): one the pool index has seen move
on is dropped when taken, and the rest is caught by the store itself, which refuses a save at a
version already taken (the reserver then tries another candidate), so the shelf only saves
reads, never decides anything.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Final
from uuid import UUID

from gcp_app.pool_index import PoolIndex
from gcp_domain.certificate import GiftCertificate
from gcp_domain.vocabulary import CertificateState

# One read of this many certificates serves this many reservations; the next read starts in
# the background when a pool's shelf is down to LOW, so that reservations do not wait for it.
REFILL: Final = 256
LOW: Final = 128

Load = Callable[[Iterable[UUID]], dict[UUID, GiftCertificate]]

log = logging.getLogger(__name__)


class CandidateShelf:
    def __init__(
        self, index: PoolIndex, load: Load, *, refill: int = REFILL, low: int = LOW
    ) -> None:
        self._index = index
        self._load = load
        self._refill = refill
        self._low = low
        self._shelves: dict[str, list[GiftCertificate]] = {}
        self._lock = threading.Lock()  # guards _shelves, _filling and _closed
        # A read under way per pool, set when done: who finds the shelf empty waits for it
        # rather than concluding that the pool is empty.
        self._filling: dict[str, threading.Event] = {}
        self._closed = False

    def take(self, pool: str) -> GiftCertificate | None:
        """An available certificate of `pool`, read earlier; None when the pool has none."""
        while True:
            with self._lock:
                shelf = self._shelves.setdefault(pool, [])
                while shelf:
                    certificate = shelf.pop()
                    if self._index.is_available(certificate.id, certificate.version):
                        if len(shelf) < self._low and not self._closed:
                            self._start_filling(pool, background=True)
                        return certificate
                under_way = self._filling.get(pool)
                done = under_way or self._start_filling(pool, background=False)
            if under_way is not None:
                under_way.wait()  # Its certificates are about to be on the shelf.
                continue
            try:
                found = self._fill(pool)
            finally:
                self._finish(pool, done)
            if not found:
                return None

    def close(self) -> None:
        """Waits for the reads under way; no more start in the background."""
        with self._lock:
            self._closed = True
            under_way = list(self._filling.values())
        for done in under_way:
            done.wait()

    def _start_filling(self, pool: str, *, background: bool) -> threading.Event:
        """Registers a read for `pool` (the caller holds the lock), on a thread of its own
        if `background`; returns the event its end sets."""
        under_way = self._filling.get(pool)
        if under_way is not None:
            return under_way
        done = self._filling[pool] = threading.Event()
        if background:
            threading.Thread(
                target=self._fill_quietly, args=(pool, done), name=f"shelf-{pool}", daemon=True
            ).start()
        return done

    def _fill_quietly(self, pool: str, done: threading.Event) -> None:
        try:
            self._fill(pool)
        except Exception:
            # The next take() reads for itself and meets the error where it can be answered.
            log.exception("reading ahead for pool %r failed", pool)
        finally:
            self._finish(pool, done)

    def _finish(self, pool: str, done: threading.Event) -> None:
        with self._lock:
            self._filling.pop(pool, None)
        done.set()

    def _fill(self, pool: str) -> bool:
        """Reads up to `refill` candidates onto the shelf; False if the pool has none."""
        # What other processes did since (reserved, stocked) first: fewer stale copies. Own
        # writes are known already, so this reads little and decodes less.
        self._index.catch_up()
        candidates = self._index.take_available_many(pool, self._refill)
        if not candidates:
            return False
        try:
            loaded = self._load(candidates)
        except BaseException:
            for candidate in candidates:
                self._index.give_back(candidate)
            raise
        fresh: list[GiftCertificate] = []
        for certificate in loaded.values():
            if certificate.state is CertificateState.AVAILABLE and self._index.is_available(
                certificate.id, certificate.version
            ):
                fresh.append(certificate)
            else:
                self._index.observe(certificate)  # The index was behind: now it knows.
        with self._lock:
            self._shelves.setdefault(pool, []).extend(fresh)
        return True
