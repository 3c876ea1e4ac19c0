"""Reserving pre-created certificates for the channels (`GET /certificates/next`).

Unlike the other use cases, the caller names no certificate: one is picked from the pool (a
random candidate read ahead by the shelf), reserved, and saved at the version read, so that the
store refuses a second reservation of the same certificate across processes; the loser tries
another candidate. Concurrent requests share a commit (`reserve_many`, fed by the reservation
desk, gcp_app.reservation_desk): docs/architecture.md, decisions 19, 20 and 24.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any, Final, NoReturn

import attrs
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from gcp_app.clock import Clock
from gcp_app.errors import (
    IdempotencyKeyReused,
    PoolExhausted,
    ReservationContention,
    ReservationLapsed,
)
from gcp_app.pool_watch import LowWatermarkWatch
from gcp_app.reservation_desk import Answer, ReservationGranted, ReservationRequest
from gcp_app.shelf import CandidateShelf
from gcp_app.store import EventStore
from gcp_domain.cause import Cause
from gcp_domain.certificate import GiftCertificate
from gcp_domain.claims import ReservationKey, reservation_key_id
from gcp_domain.errors import DomainError

# How many candidates a reservation tries before giving up under contention.
RESERVATION_ATTEMPTS: Final = 16
# A group whose save conflicts is tried once more before its requests are served one by one.
GROUP_ATTEMPTS: Final = 2


@attrs.define(eq=False)
class Reservations:
    """`ttl`: how long a reservation holds before the timer releases it; `watch` says POOL_LOW
    when reservations take a pool below its low watermark."""

    _store: EventStore
    _shelf: CandidateShelf
    _clock: Clock
    _ttl: timedelta = attrs.field(kw_only=True)
    _watch: LowWatermarkWatch = attrs.field(kw_only=True)

    def reserve_next(
        self,
        pool: str,
        *,
        channel: str,
        order_id: str | None = None,
        idempotency_key: str | None = None,
        cause: Cause,
    ) -> ReservationGranted:
        """Reserves a pre-created certificate of `pool` for a channel.

        Safe under concurrency in and across processes: the store refuses a second reservation
        of the same certificate (optimistic concurrency), and the loser tries another candidate.
        The same (channel, idempotency key) always gets the first answer back; the key again
        with another pool or orderId is refused (IdempotencyKeyReused).
        """
        return self._reserve_alone(
            ReservationRequest(pool, channel, cause, order_id, idempotency_key)
        )

    def _reserve_alone(self, request: ReservationRequest) -> ReservationGranted:
        """One request served on its own (`reserve_next`, and what a group leaves over)."""
        earlier = self._earlier_reservation(request)
        if earlier is not None:
            return earlier
        for _ in range(RESERVATION_ATTEMPTS):
            certificate = self._available_certificate(request.pool, request.cause)
            try:
                granted = self._try_reserve(certificate, request)
                if granted is not None:
                    return granted
                earlier = self._earlier_reservation(request)
            except BaseException:
                self._shelf.give_back([certificate.id])
                raise
            if earlier is not None:
                # A concurrent retry with this key won: the candidate is untouched, so it
                # goes back (else this process would not offer it again for a while).
                self._shelf.give_back([certificate.id])
                return earlier
        raise ReservationContention("every candidate was taken concurrently; try again")

    def _try_reserve(
        self, certificate: GiftCertificate, request: ReservationRequest
    ) -> ReservationGranted | None:
        key = self._reserve(certificate, request)
        try:
            self._store.save(certificate, *key)
        except IntegrityError:
            # Taken by a concurrent reserver (or the key was just used).
            self._shelf.collided(certificate.pool)
            return None
        self._watch.after_reservations([certificate.pool], request.cause)
        return _granted(certificate)

    def _reserve(
        self, certificate: GiftCertificate, request: ReservationRequest
    ) -> tuple[ReservationKey, ...]:
        """Reserves `certificate` in memory; returns the key aggregate to save with it (for a
        request with an Idempotency-Key), which makes the key's first use the only one."""
        until = self._clock.now() + self._ttl
        certificate.reserve(
            by=request.channel,
            until=until,
            idempotency_key=request.idempotency_key,
            order_id=request.order_id,
            cause=request.cause,
        )
        if not request.idempotency_key:
            return ()
        return (
            ReservationKey(
                owner=request.channel,
                key=request.idempotency_key,
                certificate_id=certificate.id,
                pool=certificate.pool,
                reserved_until=until,
                cause=request.cause,
            ),
        )

    def reserve_many(self, requests: Sequence[ReservationRequest]) -> list[Answer]:
        """Serves several reservation requests in one transaction (the reservation desk's
        group commit: one lock of the events table and one commit for all). Each request gets
        what `reserve_next` would give it alone: a reservation or its refusal.

        A group whose save conflicts (another process reserved one of its candidates, or used
        one of its keys, meanwhile) stored nothing; it is tried once more, now that the pool
        index knows which candidates were taken. What is still left, and a request whose key an
        earlier request of the group carries, is served one by one as `reserve_next` serves it,
        which settles conflicts."""
        answers: list[Answer | None] = [None] * len(requests)
        alone: list[int] = []
        pending = list(range(len(requests)))
        for _ in range(GROUP_ATTEMPTS):
            alone += self._answer_repeated_keys(requests, answers, pending)
            pending = [i for i in pending if answers[i] is None and i not in alone]
            pending = self._reserve_group(requests, answers, pending)
            if not pending:
                break
        for index in sorted([*alone, *pending]):
            try:
                answers[index] = self._reserve_alone(requests[index])
            except Exception as failure:
                # This request's answer only: the group's reservations are committed and
                # must reach their callers.
                answers[index] = failure
        assert all(answer is not None for answer in answers)
        return [answer for answer in answers if answer is not None]

    def _answer_repeated_keys(
        self,
        requests: Sequence[ReservationRequest],
        answers: list[Answer | None],
        pending: Iterable[int],
    ) -> list[int]:
        """Answers the pending requests whose Idempotency-Key was used before (their first
        answer or the refusal); returns those whose key an earlier pending request carries (a
        retry racing its first try: served after the group)."""
        later: list[int] = []
        keys: set[tuple[str, str]] = set()
        for index in pending:
            request = requests[index]
            if not request.idempotency_key:
                continue
            if (request.channel, request.idempotency_key) in keys:
                later.append(index)
                continue
            keys.add((request.channel, request.idempotency_key))
            try:
                answers[index] = self._earlier_reservation(request)
            except DomainError as refusal:
                answers[index] = refusal
        return later

    def _reserve_group(
        self,
        requests: Sequence[ReservationRequest],
        answers: list[Answer | None],
        pending: Iterable[int],
    ) -> list[int]:
        """Reserves a certificate for each pending request and saves them all at once;
        returns the requests still to serve (all of them if the save conflicts)."""
        taken: dict[int, GiftCertificate] = {}
        saved: list[Any] = []
        try:
            for index in pending:
                request = requests[index]
                try:
                    certificate = self._available_certificate(request.pool, request.cause)
                except DomainError as refusal:
                    answers[index] = refusal
                    continue
                taken[index] = certificate
                saved += [certificate, *self._reserve(certificate, request)]
            if saved:
                self._store.save(*saved)
        except IntegrityError:
            # Another process took some of them: the index knows which, and the shelf is read
            # afresh (the rest of it was likely taken too), finding the others again.
            self._shelf.give_back(certificate.id for certificate in taken.values())
            for pool in {certificate.pool for certificate in taken.values()}:
                self._shelf.collided(pool)
            return list(taken)
        except BaseException:
            self._shelf.give_back(certificate.id for certificate in taken.values())
            raise
        for index, certificate in taken.items():
            answers[index] = _granted(certificate)
        if taken:
            first = requests[next(iter(taken))]
            self._watch.after_reservations((c.pool for c in taken.values()), first.cause)
        return []

    def _available_certificate(self, pool: str, cause: Cause) -> GiftCertificate:
        """A certificate of `pool` as read lately (the shelf's); records the shortage and
        raises PoolExhausted when the pool has none."""
        certificate = self._shelf.take(pool)
        if certificate is None:
            self._pool_exhausted(pool, cause)
        return certificate

    def _earlier_reservation(self, request: ReservationRequest) -> ReservationGranted | None:
        """The first answer to the request's Idempotency-Key; None without a key, or for a key
        not used before."""
        channel, idempotency_key = request.channel, request.idempotency_key
        if not idempotency_key:
            return None
        try:
            key: object = self._store.repository.get(reservation_key_id(channel, idempotency_key))
        except AggregateNotFoundError:
            return None
        assert isinstance(key, ReservationKey)
        if key.pool != request.pool or _contradicts(
            self._reserved_for_order(key, channel, idempotency_key), request.order_id
        ):
            # The same key for another request: its answer is not this request's. (An orderId
            # given once and not the other time is no contradiction: it is only recorded.)
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used with another pool or orderId; use a new key"
            )
        certificate = self._store.certificate(key.certificate_id)
        if not certificate.is_issued:
            held = certificate.reservation
            if held is None or (held.by, held.idempotency_key) != (channel, idempotency_key):
                # Released since (timed out, payment failed) and maybe held by someone else
                # now: the first answer would hand out a certificate that is not ours.
                raise ReservationLapsed("that reservation was released; reserve with a new key")
        return ReservationGranted(
            key.certificate_id, certificate.number, key.pool, key.reserved_until
        )

    def _reserved_for_order(
        self, key: ReservationKey, channel: str, idempotency_key: str
    ) -> str | None:
        """The orderId of the reservation this key made (its Reserved event)."""
        for event in self._store.events.get(key.certificate_id):
            if (
                isinstance(event, GiftCertificate.Reserved)
                and event.idempotency_key == idempotency_key
                and event.reserved_by == channel
            ):
                return event.order_id
        return None

    def _pool_exhausted(self, name: str, cause: Cause) -> NoReturn:
        pool = self._store.pool(name)
        if pool.report_exhausted(at=self._clock.now(), cause=cause):
            # A conflict means another process recorded the shortage (or stocked the pool).
            with contextlib.suppress(IntegrityError):
                self._store.save(pool)
        raise PoolExhausted(f"pool {name!r} has no certificate left")


def _contradicts(first_order_id: str | None, order_id: str | None) -> bool:
    return first_order_id is not None and order_id is not None and first_order_id != order_id


def _granted(certificate: GiftCertificate) -> ReservationGranted:
    held = certificate.reservation
    assert held is not None
    return ReservationGranted(certificate.id, certificate.number, certificate.pool, held.until)
