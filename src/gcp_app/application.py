"""GCP's application: what the adapters (HTTP, Kafka, CLI, timers, the console) call.

Every change of a certificate is a command handed to `execute` (gcp_app.use_cases), whoever
asks for it; the queries below read. Reservations, pool stocking and the CVC have services of
their own (`reservations`, `pools`, `cvc`). The parts are built and wired in one place, the
composition root (gcp_adapters.bootstrap.build_application).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import attrs
from eventsourcing.application import AggregateNotFoundError

from gcp_app.audit import HistoryEntry, history_entry, replay
from gcp_app.clock import Clock
from gcp_app.cvc import CvcDesk
from gcp_app.desk import Desk
from gcp_app.errors import CertificateNotFound
from gcp_app.notification_ids import NotificationIds
from gcp_app.pool_index import PoolIndex
from gcp_app.reservation_desk import ReservationDesk
from gcp_app.sealing import CvcSealer
from gcp_app.settings import Settings
from gcp_app.shelf import CandidateShelf
from gcp_app.state_objects import StateObject, certificate_events, state_object
from gcp_app.store import EventStore
from gcp_app.use_cases import Command, UseCases
from gcp_app.use_cases.reserving import Reservations
from gcp_app.use_cases.stocking import PoolStock
from gcp_domain.certificate import GiftCertificate
from gcp_domain.claims import NumberClaim, number_claim_id
from gcp_domain.errors import InvalidCertificateNumber
from gcp_domain.numbers import CertificateNumber

R = TypeVar("R")


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


@attrs.define(kw_only=True, eq=False, slots=False)
class GiftCertificates:
    settings: Settings
    clock: Clock
    store: EventStore
    use_cases: UseCases
    pool_index: PoolIndex
    shelf: CandidateShelf
    reservations: Reservations
    # Concurrent reservations (the HTTP API's) go through here to share commits.
    reservation_desk: ReservationDesk
    # Concurrent reads of state objects (GET /certificates/{id}) share a query here.
    reading_desk: Desk[UUID, StateObject]
    pools: PoolStock
    cvc: CvcDesk
    sealer: CvcSealer
    # Names CVC notification requests (tests and the bench name them before they read them).
    notification_ids: NotificationIds

    def execute(self, command: Command[R]) -> R:
        """Runs the command's use case in a transaction of its own (see UseCases.execute)."""
        return self.use_cases.execute(command)

    def close(self) -> None:
        self.reservation_desk.close()
        self.reading_desk.close()
        self.shelf.close()
        self.store.close()

    # ================================================================== certificates

    def get_certificate(self, certificate_id: UUID) -> GiftCertificate:
        return self.store.certificate(certificate_id)

    def find_by_number(self, number: str) -> UUID | None:
        """The certificate with this printed number, in any pool."""
        try:
            claim: object = self.store.repository.get(
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

    def current_object(self, certificate_id: UUID) -> StateObject:
        """The stream object of the certificate's latest publication (what the compacted topic
        holds for its key); a certificate never published yet shows status CREATED. Concurrent
        reads are better grouped: `reading_desk`."""
        return state_object(list(self.store.events.get(certificate_id)))

    def _events_of(self, certificate_id: UUID) -> Sequence[Any]:
        return certificate_events(list(self.store.events.get(certificate_id)))

    # ================================================================== pools

    def pool_status(self, name: str) -> PoolStatus:
        pool = self.store.pool(name)
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
        return self.pool_index.pools()
