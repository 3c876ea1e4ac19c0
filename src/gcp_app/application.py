"""The GCP application: one eventsourcing Application with a command per lifecycle transition,
the pool operations, and the queries (get, find by number, history, state at a past point).

Adapters (HTTP, Kafka, CLI) call this and nothing deeper. Every command takes a `Cause`, so the
stored events say who did what and why.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, NoReturn, TypeVar
from uuid import UUID, uuid4

import attrs
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import BaseAggregate
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    ProcessRecorder,
    Recording,
    Transcoding,
)
from eventsourcing.popo import POPOFactory
from eventsourcing.utils import Environment

from gcp_app.audit import HistoryEntry, history_entry, replay
from gcp_app.clock import Clock, SystemClock
from gcp_app.cvc_guard import CvcGuard, CvcPolicy
from gcp_app.errors import (
    CertificateNotFound,
    ConcurrentUpdate,
    IdempotencyKeyReused,
    PoolExhausted,
    PoolNotFound,
    ReservationContention,
    ReservationLapsed,
    VendorImportRejected,
)
from gcp_app.persistence import event_store_env
from gcp_app.pool_index import PoolIndex
from gcp_app.recorders import MemoryInboxRecorder, aggregates_of_many
from gcp_app.reservation_desk import (
    Answer,
    ReservationDesk,
    ReservationGranted,
    ReservationRequest,
)
from gcp_app.sealing import CvcSealer, load_or_create_key
from gcp_app.settings import Settings
from gcp_app.shelf import CandidateShelf
from gcp_app.stock import draw_cvc, draw_number, read_vendor_csv
from gcp_domain.cause import Cause
from gcp_domain.certificate import GiftCertificate
from gcp_domain.certificate_values import Recipient, RedemptionOutcome
from gcp_domain.claims import NumberClaim, ReservationKey, number_claim_id, reservation_key_id
from gcp_domain.errors import CvcNotAvailable, DomainError, InvalidCertificateNumber
from gcp_domain.money import Money
from gcp_domain.numbers import CertificateNumber
from gcp_domain.pool import CertificatePool, check_pool_name, pool_id
from gcp_domain.stream import CREATED_STATUS, certificate_object, certificate_status
from gcp_domain.vocabulary import CertificateState, NotificationChannel, RejectionReason

T = TypeVar("T")

logger = logging.getLogger("gcp.app")

# How often a command re-reads and retries after a concurrent writer changed the same aggregate.
CONFLICT_RETRIES: Final = 5
# How many candidates a reservation tries before giving up under contention.
RESERVATION_ATTEMPTS: Final = 16
# A group whose save conflicts is tried once more before its requests are served one by one.
GROUP_ATTEMPTS: Final = 2
GENERATE_BATCH: Final = 1000
# The release reason of a reservation that was not issued in time.
RESERVATION_TIMEOUT: Final = "RESERVATION_TIMEOUT"


class CauseAsList(Transcoding):
    type = Cause
    name = "cause"

    def encode(self, obj: Cause) -> list[str]:
        return [obj.actor, obj.causation_id, obj.correlation_id]

    def decode(self, data: list[str]) -> Cause:
        actor, causation_id, correlation_id = data
        return Cause(actor, causation_id, correlation_id)


@attrs.frozen
class PoolStatus:
    pool: str
    available: int
    reserved: int
    issued: int
    cancelled: int
    low_watermark: int

    @property
    def below_low_watermark(self) -> bool:
        return self.available < self.low_watermark


class GiftCertificates(Application[UUID]):
    name = "gcp"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        # The key first: a bad key must not leave a store's connections open behind it.
        self.sealer = CvcSealer(load_or_create_key(self.settings.cipher_key, self.settings.var_dir))
        super().__init__(env={**event_store_env(self.settings), **(env or {})})
        self.clock: Clock = clock or SystemClock()
        self.pool_index = PoolIndex(self.recorder, self.mapper)
        self.cvc_guard = CvcGuard(
            self,
            CvcPolicy(
                max_failures=self.settings.cvc_max_failures,
                max_client_failures=self.settings.cvc_max_client_failures,
                window=self.settings.cvc_window,
            ),
            now=self._now,
        )
        # Concurrent reservations (the HTTP API's) go through here to share commits.
        self.shelf = CandidateShelf(self.pool_index, self._certificates)
        self.reservation_desk = ReservationDesk(self.reserve_many)

    def close(self) -> None:
        self.reservation_desk.close()
        self.shelf.close()
        super().close()

    def _now(self) -> datetime:
        """The application's clock, read late (a test may replace `clock`)."""
        return self.clock.now()

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        """The library's environment, without our own GCP_* settings. eventsourcing reads
        `<APP NAME>_<KEY>` before `<KEY>`, and this application is named "gcp": our
        GCP_CIPHER_KEY would otherwise switch on its encryption of every stored event (and
        any later GCP_* setting could collide likewise). What the library needs is passed to it
        explicitly, unprefixed (gcp_app.persistence)."""
        environment = super().construct_env(name, env)
        prefix = f"{name.upper()}_"
        for key in [k for k in environment if k.startswith(prefix)]:
            del environment[key]
        return environment

    def construct_recorder(self) -> ProcessRecorder:
        """A process recorder: consumed positions are recorded with the effects they caused."""
        if isinstance(self.factory, POPOFactory):
            return MemoryInboxRecorder()
        return self.factory.process_recorder()

    @property
    def inbox(self) -> ProcessRecorder:
        assert isinstance(self.recorder, ProcessRecorder)
        return self.recorder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(CauseAsList())

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's `save` (9.5.6: collect, record, snapshot, notify), with the pending
        events of our aggregates collected directly. The library asks of every object
        `isinstance(obj, DomainEventProtocol)` and then `CollectEventsProtocol`: runtime
        protocol checks that Python 3.11 recomputes on every call, about 5% of the consumer's
        CPU for a batch of 2,000 messages. An aggregate (`BaseAggregate`) has no
        `originator_id`, so the library would take the same branch for it; events and anything
        else still go through the library's own `collect_events`, in the order given."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, BaseAggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            else:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        return self.record_collected(processing_event)

    def record_collected(self, collected: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """The second half of `save`: records events collected earlier, with the positions in
        `collected.saved_kwargs` (trackings), in one transaction. The pipelined consumer
        collects a batch's events on its own thread and records them on a writer thread while
        the aggregates already take the next batch's changes: `collected.aggregates` is then
        empty, which only the library's repository cache and snapshots would read, and this
        application uses neither."""
        recordings = self._record(collected)
        self._take_snapshots(collected)
        self._notify(recordings)
        self.notify(collected.events)  # Deprecated hook, called as the library does.
        return recordings

    # ================================================================== queries

    def get_certificate(self, certificate_id: UUID) -> GiftCertificate:
        try:
            certificate: object = self.repository.get(certificate_id)
        except AggregateNotFoundError:
            raise CertificateNotFound("no such certificate") from None
        if not isinstance(certificate, GiftCertificate):
            raise CertificateNotFound("no such certificate")
        return certificate

    def find_by_number(self, number: str) -> UUID | None:
        """The certificate with this printed number, in any pool."""
        try:
            claim: object = self.repository.get(
                number_claim_id(CertificateNumber.parse(number).value)
            )
        except (AggregateNotFoundError, InvalidCertificateNumber):
            return None  # A malformed number is simply not found: the answer says no more.
        assert isinstance(claim, NumberClaim)
        return claim.certificate_id

    def history(self, certificate_id: UUID) -> list[HistoryEntry]:
        return [history_entry(e) for e in self._events_of(certificate_id)]

    def state_at(
        self, certificate_id: UUID, *, version: int | None = None, at: datetime | None = None
    ) -> GiftCertificate:
        """The certificate as it was at `version` or at the instant `at` (for audits)."""
        certificate = replay(self._events_of(certificate_id), version=version, at=at)
        if certificate is None:
            raise CertificateNotFound("the certificate did not exist yet")
        return certificate

    def current_object(self, certificate_id: UUID) -> dict[str, Any]:
        """The stream object of the certificate's latest publication (what the compacted topic
        holds for its key); a certificate never published yet shows status CREATED."""
        certificate: GiftCertificate | None = None
        shown: tuple[Any, str] | None = None
        for event in self._events_of(certificate_id):
            certificate = event.mutate(certificate)
            assert certificate is not None
            status = certificate_status(certificate, event)
            if status is not None or shown is None:
                shown = (event, status or CREATED_STATUS)
        assert shown is not None
        event, status = shown
        # The state is taken as of that publication, so the object equals the stream's message.
        published = replay(self._events_of(certificate_id), version=event.originator_version)
        assert published is not None
        return certificate_object(published, event, status)

    def _events_of(self, certificate_id: UUID) -> list[Any]:
        events = list(self.events.get(certificate_id))
        if not events or not isinstance(events[0], GiftCertificate.Created):
            raise CertificateNotFound("no such certificate")
        return events

    # ================================================================== pools

    def create_pool(self, name: str, *, low_watermark: int | None = None, cause: Cause) -> bool:
        """Creates the pool if it does not exist yet. Returns True if it was created."""
        check_pool_name(name)
        if self._find_pool(name) is not None:
            return False
        pool = CertificatePool.create(
            name=name,
            low_watermark=self.settings.pool_low_watermark
            if low_watermark is None
            else low_watermark,
            cause=cause,
        )
        try:
            self.save(pool)
        except IntegrityError:
            return False  # Created concurrently: same outcome.
        return True

    def pool_status(self, name: str) -> PoolStatus:
        pool = self._require_pool(name)
        self.pool_index.catch_up()
        levels = self.pool_index.levels(name)
        return PoolStatus(
            pool=name,
            available=levels.available,
            reserved=levels.reserved,
            issued=levels.issued,
            cancelled=levels.cancelled,
            low_watermark=pool.low_watermark,
        )

    def pool_names(self) -> list[str]:
        self.pool_index.catch_up()
        return self.pool_index.pools()

    def generate_certificates(
        self,
        pool: str,
        count: int,
        *,
        cause: Cause,
        progress: Callable[[int], None] | None = None,
        batch_size: int = GENERATE_BATCH,
    ) -> int:
        """Pre-creates `count` certificates with fresh numbers and sealed CVCs, in batches."""
        if count <= 0:
            raise ValueError("count must be positive")
        self.create_pool(pool, cause=cause)
        done = 0
        while done < count:
            size = min(batch_size, count - done)
            for _ in range(CONFLICT_RETRIES):
                batch = [(draw_number(), draw_cvc(self.settings.cvc_digits)) for _ in range(size)]
                if len({number for number, _ in batch}) < size:
                    continue  # A number drawn twice in one batch: draw the batch again.
                try:
                    self._stock(pool, batch, source="generated", cause=cause)
                    break
                except IntegrityError:
                    continue  # A number already taken, or the pool changed: draw again.
            else:
                raise ConcurrentUpdate("could not store a batch of new certificates")
            done += size
            if progress is not None:
                progress(size)
        return done

    def import_certificates(
        self, pool: str, lines: Iterable[str], *, source: str, cause: Cause
    ) -> int:
        """Loads a card vendor's CSV (`number,cvc`): every row in one transaction, or none.

        Any bad row refuses the whole file with every bad line and why (never the CVC)."""
        rows, problems = read_vendor_csv(lines)
        if problems:
            raise VendorImportRejected(problems)
        self.create_pool(pool, cause=cause)
        try:
            self._stock(pool, [(r.number, r.cvc) for r in rows], source=source, cause=cause)
        except IntegrityError:
            taken = [
                (r.line, "the number belongs to an existing certificate")
                for r in rows
                if number_claim_id(r.number.value) in self.repository
            ]
            if not taken:
                raise  # Not a duplicate number: a concurrent change of the pool; let it surface.
            raise VendorImportRejected(taken) from None
        return len(rows)

    def _stock(
        self,
        pool_name: str,
        batch: list[tuple[CertificateNumber, str]],
        *,
        source: str,
        cause: Cause,
    ) -> None:
        pool = self._require_pool(pool_name)
        aggregates: list[Any] = []
        certificates = []
        for number, cvc in batch:
            certificate = GiftCertificate.create(
                pool=pool_name, number=number, sealed_cvc=self.sealer.seal(cvc), cause=cause
            )
            certificates.append(certificate)
            aggregates.append(certificate)
            aggregates.append(
                NumberClaim(number=number.value, certificate_id=certificate.id, cause=cause)
            )
        pool.record_added(count=len(batch), source=source, cause=cause)
        self.save(*aggregates, pool)
        self.pool_index.observe_all(certificates)

    def _find_pool(self, name: str) -> CertificatePool | None:
        try:
            pool: object = self.repository.get(pool_id(name))
        except AggregateNotFoundError:
            return None
        assert isinstance(pool, CertificatePool)
        return pool

    def _require_pool(self, name: str) -> CertificatePool:
        pool = self._find_pool(name)
        if pool is None:
            raise PoolNotFound(f"no pool named {name!r}")
        return pool

    # ================================================================== reservation

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
        if idempotency_key:
            earlier = self._earlier_reservation(channel, idempotency_key, pool, order_id)
            if earlier is not None:
                return earlier
        self.pool_index.refresh_if_stale()
        request = ReservationRequest(pool, channel, cause, order_id, idempotency_key)
        for _ in range(RESERVATION_ATTEMPTS):
            certificate = self._available_certificate(pool, cause)
            try:
                granted = self._try_reserve(certificate, request)
                if granted is not None:
                    return granted
                earlier = (
                    self._earlier_reservation(channel, idempotency_key, pool, order_id)
                    if idempotency_key
                    else None
                )
            except BaseException:
                self.pool_index.give_back(certificate.id)
                raise
            if earlier is not None:
                # A concurrent retry with this key won: the candidate is untouched, so it
                # goes back to the index (else it stays unreservable in this process).
                self.pool_index.give_back(certificate.id)
                return earlier
        raise ReservationContention("every candidate was taken concurrently; try again")

    def _try_reserve(
        self, certificate: GiftCertificate, request: ReservationRequest
    ) -> ReservationGranted | None:
        key = self._reserve(certificate, request)
        try:
            self.save(certificate, *key)
        except IntegrityError:
            return None  # Taken by a concurrent reserver (or the key was just used).
        self.pool_index.observe(certificate)
        return _granted(certificate)

    def _reserve(
        self, certificate: GiftCertificate, request: ReservationRequest
    ) -> tuple[ReservationKey, ...]:
        """Reserves `certificate` in memory; returns the key aggregate to save with it (for a
        request with an Idempotency-Key), which makes the key's first use the only one."""
        until = self.clock.now() + self.settings.reservation_ttl
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
        earlier request of the group carries, is served one by one by `reserve_next`, which
        settles conflicts."""
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
            request = requests[index]
            try:
                answers[index] = self.reserve_next(
                    request.pool,
                    channel=request.channel,
                    order_id=request.order_id,
                    idempotency_key=request.idempotency_key,
                    cause=request.cause,
                )
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
                answers[index] = self._earlier_reservation(
                    request.channel, request.idempotency_key, request.pool, request.order_id
                )
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
                self.save(*saved)
        except IntegrityError:
            self._learn_taken(taken.values())
            return list(taken)
        except BaseException:
            self._give_back(certificate.id for certificate in taken.values())
            raise
        for index, certificate in taken.items():
            self.pool_index.observe(certificate)
            answers[index] = _granted(certificate)
        return []

    def _learn_taken(self, candidates: Iterable[GiftCertificate]) -> None:
        """After a conflicting save: reads the candidates again, so that the index knows the
        ones another process took, and gives the others back."""
        ids = [candidate.id for candidate in candidates]
        try:
            current = self._certificates(ids)
        except BaseException:
            self._give_back(ids)
            raise
        for certificate in current.values():
            self.pool_index.observe(certificate)
            if certificate.state is CertificateState.AVAILABLE:
                self.pool_index.give_back(certificate.id)

    def _available_certificate(self, pool: str, cause: Cause) -> GiftCertificate:
        """A certificate of `pool` as read lately (the shelf's); records the shortage and
        raises PoolExhausted when the pool has none."""
        certificate = self.shelf.take(pool)
        if certificate is None:
            self._pool_exhausted(pool, cause)
        return certificate

    def _give_back(self, candidates: Iterable[UUID]) -> None:
        for candidate in candidates:
            self.pool_index.give_back(candidate)

    def _certificates(self, ids: Iterable[UUID]) -> dict[UUID, GiftCertificate]:
        """Several certificates in one read (one query on PostgreSQL)."""
        return {
            certificate_id: aggregate
            for certificate_id, aggregate in aggregates_of_many(self, ids).items()
            if isinstance(aggregate, GiftCertificate)
        }

    def _earlier_reservation(
        self, channel: str, idempotency_key: str, pool: str, order_id: str | None
    ) -> ReservationGranted | None:
        try:
            key: object = self.repository.get(reservation_key_id(channel, idempotency_key))
        except AggregateNotFoundError:
            return None
        assert isinstance(key, ReservationKey)
        if key.pool != pool or _contradicts(
            self._reserved_for_order(key, channel, idempotency_key), order_id
        ):
            # The same key for another request: its answer is not this request's. (An orderId
            # given once and not the other time is no contradiction: it is only recorded.)
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used with another pool or orderId; use a new key"
            )
        certificate = self.get_certificate(key.certificate_id)
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
        for event in self.events.get(key.certificate_id):
            if (
                isinstance(event, GiftCertificate.Reserved)
                and event.idempotency_key == idempotency_key
                and event.reserved_by == channel
            ):
                return event.order_id
        return None

    def _pool_exhausted(self, name: str, cause: Cause) -> NoReturn:
        pool = self._require_pool(name)
        if pool.report_exhausted(at=self.clock.now(), cause=cause):
            # A conflict means another process recorded the shortage (or stocked the pool).
            with contextlib.suppress(IntegrityError):
                self.save(pool)
        raise PoolExhausted(f"pool {name!r} has no certificate left")

    def release_reservation(self, certificate_id: UUID, *, reason: str, cause: Cause) -> bool:
        return self._change(
            certificate_id, lambda c: c.release_reservation(reason=reason, cause=cause)
        )

    def release_lapsed_reservation(self, certificate_id: UUID, *, cause: Cause) -> bool:
        """The reservation timer's command: releases the reservation (RESERVATION_TIMEOUT) only
        if the certificate is still RESERVED and its reservedUntil has passed on the clock.
        Returns False otherwise (released or issued meanwhile, or reserved again since), so a
        second timer instance, or a stale deadline, records nothing."""

        def command(certificate: GiftCertificate) -> bool:
            held = certificate.reservation
            if (
                certificate.state is not CertificateState.RESERVED
                or held is None
                or held.until > self.clock.now()
            ):
                return False
            return certificate.release_reservation(reason=RESERVATION_TIMEOUT, cause=cause)

        return self._change(certificate_id, command)

    # ================================================================== issue and notification

    def issue(
        self,
        certificate_id: UUID,
        *,
        amount: Money,
        channel: str,
        order_id: str,
        payment_ids: list[str],
        client_id: str | None,
        recipient: Recipient,
        notification_channel: NotificationChannel = NotificationChannel.EMAIL,
        validity: timedelta | None = None,
        cause: Cause,
    ) -> bool:
        def command(certificate: GiftCertificate) -> bool:
            issued_at = self.clock.now()
            return certificate.issue(
                amount=amount,
                channel=channel,
                order_id=order_id,
                payment_ids=payment_ids,
                client_id=client_id,
                recipient=recipient,
                notification_channel=notification_channel,
                issued_at=issued_at,
                expires_at=issued_at + (validity or self.settings.default_validity),
                cause=cause,
            )

        return self._change(certificate_id, command)

    def request_notification(
        self,
        certificate_id: UUID,
        *,
        notification_id: str | None = None,
        channel: NotificationChannel | None = None,
        cause: Cause,
    ) -> str:
        """Opens a notification request for CRM; returns its notificationId."""
        wanted = notification_id or str(uuid4())
        self._change(
            certificate_id,
            lambda c: c.request_notification(notification_id=wanted, channel=channel, cause=cause),
        )
        return wanted

    def disclose_cvc(
        self,
        certificate_id: UUID,
        *,
        notification_id: str,
        cause: Cause,
        client: str | None = None,
    ) -> str:
        """The plain CVC, once per notification request. The caller must not log it.

        Throttled (`gcp_app.cvc_guard`): a failed request (`CertificateNotFound`,
        `CvcNotAvailable`) counts against the certificate id and the client (`client`, by
        default the cause's actor); while either is locked out every request is refused with
        `CvcThrottled`. The counts are in the store, shared by every application on it. The
        failure that locks a certificate out records `CvcLockedOut` on it (if it exists), once
        per lock-out across all of them. `CvcAlreadyDisclosed` is no failure: only a caller
        with the right notificationId gets it.
        """
        who = client or cause.actor
        self.cvc_guard.check(certificate_id, who)
        try:
            sealed = self._change(
                certificate_id,
                lambda c: c.disclose_cvc(notification_id=notification_id, cause=cause),
            )
        except (CertificateNotFound, CvcNotAvailable) as refused:
            locked_out = self.cvc_guard.failed(certificate_id, who, cause=cause)
            if locked_out and not isinstance(refused, CertificateNotFound):
                self._cvc_locked_out(certificate_id, cause)
            raise
        return self.sealer.unseal(sealed)

    def record_cvc_lockout(
        self, certificate_id: UUID, *, attempts: int, window_seconds: int, cause: Cause
    ) -> None:
        """Records `CvcLockedOut` on the certificate (recorded, not published)."""
        self._change(
            certificate_id,
            lambda c: c.record_cvc_lockout(
                attempts=attempts, window_seconds=window_seconds, cause=cause
            ),
        )

    def _cvc_locked_out(self, certificate_id: UUID, cause: Cause) -> None:
        policy = self.cvc_guard.policy
        logger.warning(
            "CVC requests for certificate %s locked out for %d s after %d failures (by %s)",
            certificate_id,
            policy.window_seconds,
            policy.max_failures,
            cause.actor,
        )
        try:
            self.record_cvc_lockout(
                certificate_id,
                attempts=policy.max_failures,
                window_seconds=policy.window_seconds,
                cause=cause,
            )
        except DomainError as error:
            # The lock-out holds anyway; the caller's answer stays the same "not found".
            logger.warning(
                "could not record the CVC lock-out of %s: %s", certificate_id, error.code
            )

    def record_notification_result(
        self,
        certificate_id: UUID,
        *,
        notification_id: str,
        sent: bool,
        error: str | None = None,
        cause: Cause,
    ) -> bool:
        return self._change(
            certificate_id,
            lambda c: c.record_notification_result(
                notification_id=notification_id, sent=sent, error=error, cause=cause
            ),
        )

    # ================================================================== money

    def redeem(
        self,
        certificate_id: UUID,
        *,
        payment_id: str,
        order_id: str | None,
        amount: Money,
        cause: Cause,
    ) -> RedemptionOutcome:
        return self._change(
            certificate_id,
            lambda c: c.redeem(
                payment_id=payment_id,
                order_id=order_id,
                amount=amount,
                at=self.clock.now(),
                cause=cause,
            ),
        )

    def reject_redemption(
        self,
        certificate_id: UUID,
        *,
        payment_id: str,
        order_id: str | None,
        amount: Money,
        reason: RejectionReason,
        cause: Cause,
    ) -> bool:
        return self._change(
            certificate_id,
            lambda c: c.reject_redemption(
                payment_id=payment_id, order_id=order_id, amount=amount, reason=reason, cause=cause
            ),
        )

    def reverse_redemption(
        self,
        certificate_id: UUID,
        *,
        refund_payment_id: str,
        redemption_payment_id: str,
        amount: Money,
        cause: Cause,
    ) -> bool:
        return self._change(
            certificate_id,
            lambda c: c.reverse_redemption(
                refund_payment_id=refund_payment_id,
                redemption_payment_id=redemption_payment_id,
                amount=amount,
                cause=cause,
            ),
        )

    def start_refund(
        self, certificate_id: UUID, *, payment_id: str, amount: Money | None, cause: Cause
    ) -> bool:
        return self._change(
            certificate_id,
            lambda c: c.start_refund(payment_id=payment_id, amount=amount, cause=cause),
        )

    def refund_needs_details(self, certificate_id: UUID, *, payment_id: str, cause: Cause) -> bool:
        return self._change(
            certificate_id, lambda c: c.refund_needs_details(payment_id=payment_id, cause=cause)
        )

    def complete_refund(
        self, certificate_id: UUID, *, payment_id: str, amount: Money, cause: Cause
    ) -> bool:
        return self._change(
            certificate_id,
            lambda c: c.complete_refund(payment_id=payment_id, amount=amount, cause=cause),
        )

    def fail_refund(
        self, certificate_id: UUID, *, payment_id: str, reason: str | None, cause: Cause
    ) -> bool:
        return self._change(
            certificate_id,
            lambda c: c.fail_refund(payment_id=payment_id, reason=reason, cause=cause),
        )

    # ================================================================== support and timers

    def lock(self, certificate_id: UUID, *, reason: str, by: str, cause: Cause) -> bool:
        return self._change(
            certificate_id,
            lambda c: c.lock_for(reason=reason, by=by, at=self.clock.now(), cause=cause),
        )

    def unlock(self, certificate_id: UUID, *, reason: str | None, by: str, cause: Cause) -> bool:
        return self._change(certificate_id, lambda c: c.unlock(reason=reason, by=by, cause=cause))

    def expire(self, certificate_id: UUID, *, cause: Cause) -> bool:
        return self._change(certificate_id, lambda c: c.expire(at=self.clock.now(), cause=cause))

    def cancel(self, certificate_id: UUID, *, reason: str, cause: Cause) -> bool:
        return self._change(certificate_id, lambda c: c.cancel(reason=reason, cause=cause))

    # ================================================================== plumbing

    def _change(self, certificate_id: UUID, command: Callable[[GiftCertificate], T]) -> T:
        """Load, command, save; on a concurrent write to the same certificate, do it again on
        the fresh state (so the rules are checked against what is really stored)."""
        for _ in range(CONFLICT_RETRIES):
            certificate = self.get_certificate(certificate_id)
            result = command(certificate)
            if not certificate.pending_events:
                return result
            try:
                self.save(certificate)
            except IntegrityError:
                continue
            self.pool_index.observe(certificate)
            return result
        raise ConcurrentUpdate("the certificate kept changing; try again")


def _contradicts(first_order_id: str | None, order_id: str | None) -> bool:
    return first_order_id is not None and order_id is not None and first_order_id != order_id


def _granted(certificate: GiftCertificate) -> ReservationGranted:
    held = certificate.reservation
    assert held is not None
    return ReservationGranted(certificate.id, certificate.number, certificate.pool, held.until)
