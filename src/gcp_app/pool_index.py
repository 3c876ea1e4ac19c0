"""Which certificates each pool holds, and in which state: a read model of the event store.

It follows the application's notification log by polling (SQLite cannot subscribe), decoding only
the few events that move a certificate in or out of a pool. It may lag behind other processes;
that is safe, because a reservation is decided by the event store's optimistic concurrency, not by
this index: a stale candidate costs one retry, never a duplicate.

It also keeps the timers' deadlines (`gcp_app.timers`): the `reservedUntil` of each RESERVED
certificate and the `expiresAt` of each issued certificate that is not final yet, in heaps, so
that "what is due at T" costs the due entries, not a scan. The same lag applies: a timer's
command re-reads the certificate and the store decides.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from enum import Enum
from typing import Any, Final, Literal
from uuid import UUID

import attrs
from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification
from eventsourcing.utils import get_topic

from gcp_domain.certificate import GiftCertificate
from gcp_domain.vocabulary import FINAL_STATES, CertificateState

AVAILABLE: Final = "available"
RESERVED: Final = "reserved"
ISSUED: Final = "issued"
CANCELLED: Final = "cancelled"


class _Keep(Enum):
    KEEP = "keep"


KEEP: Final = _Keep.KEEP
# A deadline change: a new (deadline, orderId), None (no deadline any more) or KEEP (unchanged).
_Change = tuple[datetime, str | None] | None | Literal[_Keep.KEEP]
_Read = Callable[[Any], tuple[datetime, str | None]]


@attrs.frozen
class Effect:
    """What one kind of certificate event does to the index: the pool level the certificate
    moves to (None: it stays; `creates`: it enters the pool its event names), and its
    reservation and expiry deadlines: read from the event, ended (None) or kept (KEEP). Every
    event moves the certificate's version on."""

    level: str | None = None
    creates: bool = False
    reservation: _Read | Literal[_Keep.KEEP] | None = KEEP
    expiry: _Read | Literal[_Keep.KEEP] | None = KEEP

    @property
    def decodes(self) -> bool:
        """Whether the event is read: for its pool, or for a deadline."""
        return self.creates or callable(self.reservation) or callable(self.expiry)


G = GiftCertificate
_UNCHANGED: Final = Effect()
_ENDS_DEADLINES: Final = Effect(reservation=None, expiry=None)
# Each event class of a certificate, its effect on the index. Every event class is here (a test
# checks it), so that a new one is never left out unnoticed: one that changes nothing says so.
EFFECTS: Final[dict[type[GiftCertificate.Event], Effect]] = {
    G.Created: Effect(level=AVAILABLE, creates=True),
    G.Reserved: Effect(level=RESERVED, reservation=lambda e: (e.reserved_until, e.order_id)),
    G.ReservationReleased: Effect(level=AVAILABLE, reservation=None),
    G.Issued: Effect(level=ISSUED, reservation=None, expiry=lambda e: (e.expires_at, e.order_id)),
    G.Cancelled: Effect(level=CANCELLED, reservation=None, expiry=None),
    G.Expired: _ENDS_DEADLINES,
    G.RefundCompleted: _ENDS_DEADLINES,
    G.NotificationRequested: _UNCHANGED,
    G.CvcDisclosed: _UNCHANGED,
    G.CvcLockedOut: _UNCHANGED,
    G.NotificationSent: _UNCHANGED,
    G.NotificationFailed: _UNCHANGED,
    G.RedemptionApplied: _UNCHANGED,
    G.RedemptionRejected: _UNCHANGED,
    G.RedemptionReversed: _UNCHANGED,
    G.RefundPending: _UNCHANGED,
    G.RefundPendingDetails: _UNCHANGED,
    G.RefundFailed: _UNCHANGED,
    G.Locked: _UNCHANGED,
    G.Unlocked: _UNCHANGED,
}
_BY_TOPIC: Final = {get_topic(event_class): effect for event_class, effect in EFFECTS.items()}


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


@attrs.frozen
class Deadline:
    """A timer's due work: the certificate, its deadline, the order it was for, and the version
    of the certificate the index knew when it handed this out."""

    certificate_id: UUID
    at: datetime
    order_id: str | None
    version: int


class _Deadlines:
    """Deadlines by certificate, in a heap with lazy deletion: an entry that no longer matches
    `_due` (released, issued, expired, a newer deadline) is dropped when it comes to the top,
    and the heap is rebuilt when such stale entries outnumber the live ones.

    A deadline the timer found nothing to do for (a fully redeemed certificate past expiresAt)
    is parked at the version the index knew, and comes back with the certificate's next event,
    so that the timer does not re-read it on every tick."""

    def __init__(self) -> None:
        self._due: dict[UUID, tuple[datetime, str | None]] = {}
        self._parked: dict[UUID, int] = {}
        self._heap: list[tuple[datetime, UUID]] = []

    def __len__(self) -> int:
        return len(self._due) - len(self._parked)

    def __contains__(self, certificate_id: UUID) -> bool:
        return certificate_id in self._due and certificate_id not in self._parked

    def set(self, certificate_id: UUID, at: datetime, order_id: str | None) -> None:
        was_parked = self._parked.pop(certificate_id, None) is not None
        if not was_parked and self._due.get(certificate_id) == (at, order_id):
            return
        self._due[certificate_id] = (at, order_id)
        heapq.heappush(self._heap, (at, certificate_id))
        self._compact()

    def discard(self, certificate_id: UUID) -> None:
        self._due.pop(certificate_id, None)
        self._parked.pop(certificate_id, None)
        self._compact()

    def touch(self, certificate_id: UUID, version: int) -> None:
        """The certificate changed (at `version`): a parked deadline is due again."""
        parked = self._parked.get(certificate_id)
        if parked is not None and version > parked:
            del self._parked[certificate_id]
            heapq.heappush(self._heap, (self._due[certificate_id][0], certificate_id))

    def park(self, certificate_id: UUID, at: datetime, version: int) -> None:
        if self._due.get(certificate_id, (None,))[0] == at:
            self._parked[certificate_id] = version

    def due(self, now: datetime, limit: int, versions: dict[UUID, _Entry]) -> list[Deadline]:
        """Up to `limit` deadlines at or before `now`, earliest first. They stay in the heap
        until the certificate's next event (or `park`) settles them."""
        found: list[Deadline] = []
        seen: set[UUID] = set()
        while self._heap and len(found) < limit and self._heap[0][0] <= now:
            at, certificate_id = heapq.heappop(self._heap)
            if certificate_id in seen or certificate_id in self._parked:
                continue
            current = self._due.get(certificate_id)
            if current is None or current[0] != at:
                continue  # Stale: settled, or replaced by a newer deadline.
            seen.add(certificate_id)
            entry = versions.get(certificate_id)
            found.append(Deadline(certificate_id, at, current[1], entry.version if entry else 0))
        for deadline in found:
            heapq.heappush(self._heap, (deadline.at, deadline.certificate_id))
        return found

    def _compact(self) -> None:
        if len(self._heap) > 2 * len(self) + 1024:
            self._heap = [
                (at, certificate_id)
                for certificate_id, (at, _) in self._due.items()
                if certificate_id not in self._parked
            ]
            heapq.heapify(self._heap)


# What the index takes from a certificate: id, version, level, pool, reservation, expiry.
Observation = tuple[UUID, int, str | None, str | None, _Change, _Change]


def observation_of(certificate: GiftCertificate) -> Observation:
    """What the index needs of a certificate, read now (see PoolIndex.apply_observations)."""
    held = certificate.reservation
    terms = certificate.issue_terms
    return (
        certificate.id,
        certificate.version,
        level_of(certificate.state),
        certificate.pool,
        (held.until, held.order_id)
        if held is not None and certificate.state is CertificateState.RESERVED
        else None,
        (terms.expires_at, terms.order_id)
        if terms is not None and certificate.state not in FINAL_STATES
        else None,
    )


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
        # Seeded from os.urandom: each process draws its own sequence, so reservers in other
        # processes pick different candidates; which certificate is handed out is no secret
        # (the channel gets its number), so the cheap generator will do.
        self._rng = random.Random()  # noqa: S311
        self._reservations = _Deadlines()
        self._expiries = _Deadlines()

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
                moves = [
                    self._move_of(notification, effect)
                    for notification in page
                    if (effect := _BY_TOPIC.get(notification.topic)) is not None
                    and not self._knows(notification)
                ]
                with self._data_lock:
                    for certificate_id, version, level, pool, reservation, expiry in moves:
                        self._move(certificate_id, version, level, pool, reservation, expiry)
                self._position = page[-1].id
                read += len(page)
                if len(page) < self._page_size:
                    break
            self._last_catch_up = time.monotonic()
        return read

    def _move_of(self, notification: Notification, effect: Effect) -> Observation:
        """What a certificate event does to the index, read from the event only where needed."""
        event: Any = self._mapper.to_domain_event(notification) if effect.decodes else None
        oid = notification.originator_id
        return (
            oid if isinstance(oid, UUID) else UUID(oid),
            notification.originator_version,
            effect.level,
            event.pool if effect.creates else None,
            effect.reservation(event) if callable(effect.reservation) else effect.reservation,
            effect.expiry(event) if callable(effect.expiry) else effect.expiry,
        )

    def _knows(self, notification: Notification) -> bool:
        """Whether this process applied the change already (its own write, observed): then
        there is nothing to decode. Unlocked read of one entry's version, which only grows."""
        oid = notification.originator_id
        entry = self._entries.get(oid if isinstance(oid, UUID) else UUID(oid))
        return entry is not None and notification.originator_version <= entry.version

    def refresh_if_stale(self) -> None:
        if time.monotonic() - self._last_catch_up >= self._refresh_interval:
            self.catch_up()

    def observe(self, certificate: GiftCertificate) -> None:
        """Applies this process's own write at once, without waiting for the next catch-up."""
        self.apply_observations([observation_of(certificate)])

    def observe_all(self, certificates: Iterable[GiftCertificate]) -> None:
        self.apply_observations([observation_of(c) for c in certificates])

    def apply_observations(self, observations: Iterable[Observation]) -> None:
        """Applies what `observation_of` read from certificates, once their write is stored
        (the pipelined consumer reads them when it decides a batch, and the copies move on
        before the batch is stored)."""
        with self._data_lock:
            for certificate_id, version, level, pool, reservation, expiry in observations:
                self._move(certificate_id, version, level, pool, reservation, expiry)

    def take_available(self, pool: str) -> UUID | None:
        """Removes and returns a random available certificate of `pool` (None if it has none)."""
        with self._data_lock:
            candidates = self._available.get(pool)
            return candidates.pop_random(self._rng) if candidates else None

    def take_available_many(self, pool: str, count: int) -> list[UUID]:
        """Up to `count` random available certificates of `pool`, removed like `take_available`."""
        with self._data_lock:
            candidates = self._available.get(pool)
            taken: list[UUID] = []
            while candidates and len(taken) < count:
                found = candidates.pop_random(self._rng)
                assert found is not None
                taken.append(found)
            return taken

    def is_available(self, certificate_id: UUID, version: int) -> bool:
        """Whether the index knows the certificate as available at exactly this version (a
        copy read earlier is still current, as far as the index has read)."""
        with self._data_lock:
            entry = self._entries.get(certificate_id)
            return entry is not None and entry.level == AVAILABLE and entry.version == version

    def give_back(self, certificate_id: UUID) -> None:
        """Returns an untouched candidate (the reservation failed for another reason)."""
        with self._data_lock:
            entry = self._entries.get(certificate_id)
            if entry is not None and entry.level == AVAILABLE:
                self._available_of(entry.pool).add(certificate_id)

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

    # ------------------------------------------------------------------ the timers' deadlines

    def lapsed_reservations(self, now: datetime, limit: int) -> list[Deadline]:
        """Up to `limit` RESERVED certificates whose `reservedUntil` is at or before `now`,
        earliest first (as far as this index has read: call `catch_up` first)."""
        with self._data_lock:
            return self._reservations.due(now, limit, self._entries)

    def due_expiries(self, now: datetime, limit: int) -> list[Deadline]:
        """Up to `limit` issued, not final certificates whose `expiresAt` is at or before
        `now`, earliest first."""
        with self._data_lock:
            return self._expiries.due(now, limit, self._entries)

    def defer_reservation(self, deadline: Deadline) -> None:
        """The timer found nothing to do: leave it out until the certificate changes again."""
        with self._data_lock:
            self._reservations.park(deadline.certificate_id, deadline.at, deadline.version)

    def defer_expiry(self, deadline: Deadline) -> None:
        """The timer found nothing to do (say, fully redeemed): leave it out until the
        certificate changes again (a reversal may make it expirable)."""
        with self._data_lock:
            self._expiries.park(deadline.certificate_id, deadline.at, deadline.version)

    def pending_deadlines(self) -> tuple[int, int]:
        """How many reservation and expiry deadlines the index holds (parked ones excluded)."""
        with self._data_lock:
            return len(self._reservations), len(self._expiries)

    # ------------------------------------------------------------------ applying a change

    def _move(
        self,
        certificate_id: UUID,
        version: int,
        level: str | None,
        pool: str | None,
        reservation: _Change = KEEP,
        expiry: _Change = KEEP,
    ) -> None:
        entry = self._entries.get(certificate_id)
        if entry is None:
            if pool is None or level is None:
                return  # Created not read yet: the catch-up brings the certificate in whole.
            entry = _Entry(pool, level, version)
            self._entries[certificate_id] = entry
            self._counts_of(pool)[level] += 1
        elif version <= entry.version:
            return  # Already applied (our own write, observed before the catch-up read it).
        else:
            entry.version = version
            if level is not None:
                counts = self._counts[entry.pool]
                counts[entry.level] -= 1
                counts[level] += 1
                entry.level = level
        for deadlines, change in ((self._reservations, reservation), (self._expiries, expiry)):
            deadlines.touch(certificate_id, version)
            if change is None:
                deadlines.discard(certificate_id)
            elif change is not KEEP:
                deadlines.set(certificate_id, *change)
        if level is None:
            return
        available = self._available_of(entry.pool)
        if level == AVAILABLE:
            available.add(certificate_id)
        else:
            available.discard(certificate_id)

    # Not setdefault: that would build a Counter or a set on every call, for nothing.
    def _counts_of(self, pool: str) -> Counter[str]:
        counts = self._counts.get(pool)
        if counts is None:
            counts = self._counts[pool] = Counter()
        return counts

    def _available_of(self, pool: str) -> _RandomSet:
        available = self._available.get(pool)
        if available is None:
            available = self._available[pool] = _RandomSet()
        return available
