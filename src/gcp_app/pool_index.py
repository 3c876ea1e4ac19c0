"""Which certificates each pool holds, in which state, and the timers' deadlines.

The index is a table written with the events (gcp_app.pool_rows, gcp_app.pool_tables): it is
never behind the store, no process holds it in memory, and none reads it in full at start.
This module asks it the business's questions. A candidate it hands out may be taken by another
process before it is reserved here; that is safe, because a reservation is decided by the event
store's optimistic concurrency, not by this index: a taken candidate costs one retry, never a
duplicate. Likewise a timer's command re-reads its certificate and the store decides.

A store written before the index existed gets it built once, at the first start that finds it
empty while certificates exist (`build_if_missing`).
"""

from __future__ import annotations

import logging
import random
from datetime import datetime
from typing import Final
from uuid import UUID

from eventsourcing.utils import get_topic

from gcp_app.pool_rows import Deadline, DeadlineKind, PoolLevels, row_of
from gcp_app.pool_tables import PoolTable
from gcp_app.store import EventStore
from gcp_domain.certificate import GiftCertificate

# Certificates read per step when the index is built for an older store.
BUILD_PAGE: Final = 2000

log = logging.getLogger(__name__)


class PoolIndex:
    def __init__(self, table: PoolTable) -> None:
        self._table = table
        # Seeded from os.urandom: each process draws its own points, so reservers in other
        # processes read different candidates; which certificate is handed out is no secret
        # (the channel gets its number), so the cheap generator will do.
        self._rng = random.Random()  # noqa: S311

    def candidates(self, pool: str, count: int) -> list[UUID]:
        """Up to `count` available certificates of `pool`, read from a random point on."""
        return self._table.candidates(pool, UUID(int=self._rng.getrandbits(128)), count)

    def available_up_to(self, pool: str, limit: int) -> int:
        """How many certificates of `pool` are available, counting at most `limit`."""
        return self._table.available_up_to(pool, limit)

    def levels(self, pool: str) -> PoolLevels:
        """The pool's certificates by level (counts them all: for status, not for requests)."""
        return PoolLevels.of(pool, self._table.state_counts(pool))

    def pools(self) -> list[str]:
        """The pools that hold certificates."""
        return self._table.pools()

    # ------------------------------------------------------------------ the timers' deadlines

    def lapsed_reservations(self, now: datetime, limit: int) -> list[Deadline]:
        """Up to `limit` RESERVED certificates whose `reservedUntil` is at or before `now`,
        earliest first."""
        return self._table.due(DeadlineKind.RESERVATION, now, limit)

    def due_expiries(self, now: datetime, limit: int) -> list[Deadline]:
        """Up to `limit` issued, not final certificates whose `expiresAt` is at or before
        `now`, earliest first."""
        return self._table.due(DeadlineKind.EXPIRY, now, limit)

    def defer_reservation(self, deadline: Deadline) -> None:
        """The timer found nothing to do: leave it out until the certificate changes again."""
        self._table.park(DeadlineKind.RESERVATION, deadline)

    def defer_expiry(self, deadline: Deadline) -> None:
        """The timer found nothing to do (say, fully redeemed): leave it out until the
        certificate changes again (a reversal may make it expirable)."""
        self._table.park(DeadlineKind.EXPIRY, deadline)

    def pending_deadlines(self) -> tuple[int, int]:
        """How many reservation and expiry deadlines the index holds (parked ones excluded)."""
        return (
            self._table.pending(DeadlineKind.RESERVATION),
            self._table.pending(DeadlineKind.EXPIRY),
        )


def build_if_missing(store: EventStore) -> int:
    """Builds the index of a store whose certificates were stored before it existed: once, when
    the index is empty and the store holds certificates. Returns how many were indexed.

    Safe while other processes write: a row is only ever replaced by a newer version, so what
    this reads late never puts an older state back."""
    table = store.pool_table
    created = get_topic(GiftCertificate.Created)
    if not table.is_empty() or not store.recorder.select_notifications(
        start=1, limit=1, topics=[created]
    ):
        return 0
    log.warning("building the pool index of certificates stored before it existed, once")
    built, position = 0, 0
    while True:
        page = store.recorder.select_notifications(
            start=position + 1, limit=BUILD_PAGE, topics=[created]
        )
        if not page:
            break
        ids = [n.originator_id for n in page]
        certificates = store.certificates(i if isinstance(i, UUID) else UUID(i) for i in ids)
        table.write_alone([row_of(certificate) for certificate in certificates.values()])
        built += len(certificates)
        position = page[-1].id
    log.info("built the pool index: %d certificates", built)
    return built
