"""Available certificates read ahead, so that a reservation needs no read of its own.

Reserving one certificate was a read (its events) and a write; under load the read is half the
round trips, and in a process whose event loop holds the GIL each round trip also waits for
the GIL to come back. The shelf takes available candidates from the pool index a pool at a
time, reads them in one query, and hands them out one by one. A copy on the shelf may have
gone stale: one this process changed meanwhile is dropped when taken (the store tells the shelf
what it recorded), and one another process changed is caught by the store itself, which
refuses a save at a version already taken (the reserver then tries another candidate). So the
shelf only saves reads, never decides anything.

A certificate handed out stays out of the next reads until its change is recorded, it is given
back, or HANDED_OUT_SECONDS pass (a reserver that died between taking and saving).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Final
from uuid import UUID

from gcp_app.pool_index import PoolIndex
from gcp_app.pool_rows import PoolRow
from gcp_domain.certificate import GiftCertificate
from gcp_domain.vocabulary import CertificateState

# One read of this many certificates serves this many reservations; the next read starts in
# the background when a pool's shelf is down to LOW, so that reservations do not wait for it.
REFILL: Final = 256
LOW: Final = 128
HANDED_OUT_SECONDS: Final = 60.0

Load = Callable[[Iterable[UUID]], dict[UUID, GiftCertificate]]

log = logging.getLogger(__name__)


class CandidateShelf:
    def __init__(
        self,
        index: PoolIndex,
        load: Load,
        *,
        refill: int = REFILL,
        low: int = LOW,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._index = index
        self._load = load
        self._refill = refill
        self._low = low
        self._monotonic = monotonic
        self._shelves: dict[str, list[GiftCertificate]] = {}
        self._on_shelf: set[UUID] = set()
        self._stale: set[UUID] = set()  # on a shelf, and changed by this process since
        self._handed_out: dict[UUID, float] = {}  # when
        self._lock = threading.Lock()  # guards all of the above, _filling and _closed
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
                    self._on_shelf.discard(certificate.id)
                    if certificate.id in self._stale:
                        self._stale.discard(certificate.id)
                        continue
                    self._handed_out[certificate.id] = self._monotonic()
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

    def give_back(self, certificate_ids: Iterable[UUID]) -> None:
        """Certificates handed out and left untouched (the reservation failed for another
        reason): the next read may find them again."""
        with self._lock:
            for certificate_id in certificate_ids:
                self._handed_out.pop(certificate_id, None)

    def collided(self, pool: str) -> None:
        """A save of a certificate from this shelf was refused: another process reserves from
        the same stretch of the pool index, and the rest of the shelf, read at the same point,
        is likely taken too. It is dropped (nothing is lost: what is still available is found
        again), so that the next take reads afresh from another point of the index instead of
        meeting a conflict per certificate."""
        with self._lock:
            for certificate in self._shelves.pop(pool, []):
                self._on_shelf.discard(certificate.id)
                self._stale.discard(certificate.id)

    def recorded(self, rows: Sequence[PoolRow]) -> None:
        """What this process recorded (EventStore.on_rows_recorded): those certificates are
        settled, and their copies still on a shelf are stale."""
        with self._lock:
            for row in rows:
                self._handed_out.pop(row.certificate_id, None)
                if row.certificate_id in self._on_shelf:
                    self._stale.add(row.certificate_id)

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
        """Reads up to `refill` candidates onto the shelf; False if the pool has none that is
        not on a shelf or handed out already."""
        with self._lock:
            now = self._monotonic()
            for certificate_id, at in list(self._handed_out.items()):
                if now - at > HANDED_OUT_SECONDS:
                    del self._handed_out[certificate_id]
            skip = self._on_shelf | self._handed_out.keys()
        candidates = [
            candidate
            for candidate in self._index.candidates(pool, self._refill + len(skip))
            if candidate not in skip
        ][: self._refill]
        if not candidates:
            return False
        fresh = [
            certificate
            for certificate in self._load(candidates).values()
            if certificate.state is CertificateState.AVAILABLE
        ]
        with self._lock:
            shelf = self._shelves.setdefault(pool, [])
            for certificate in fresh:
                if certificate.id not in self._on_shelf:
                    self._on_shelf.add(certificate.id)
                    shelf.append(certificate)
        return bool(fresh)
