"""The unit of work a use case runs in: the certificates it reads, each loaded once, and where
their changes go.

A use case neither knows nor cares whether it serves one HTTP request or a Kafka batch: it asks
the unit of work for the certificates it needs and changes them. `StoreUnitOfWork` is one
business transaction on its own (HTTP, CLI, timers): its changes are saved together, once the
use case is done. The inbound matching has its own unit of work
(gcp_app.inbound.work.BatchUnitOfWork), which keeps a whole batch's changes for one
transaction with the consumed positions.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from gcp_app.store import EventStore
from gcp_domain.certificate import GiftCertificate


class UnitOfWork(Protocol):
    def certificate(self, certificate_id: UUID) -> GiftCertificate:
        """The certificate as this unit of work sees it (loaded once, then changed in place);
        CertificateNotFound if there is none."""
        ...


class StoreUnitOfWork:
    """Certificates read from the store now; `changed()` is what to save in one transaction."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._loaded: dict[UUID, GiftCertificate] = {}

    def certificate(self, certificate_id: UUID) -> GiftCertificate:
        found = self._loaded.get(certificate_id)
        if found is None:
            found = self._loaded[certificate_id] = self._store.certificate(certificate_id)
        return found

    def changed(self) -> list[GiftCertificate]:
        return [c for c in self._loaded.values() if c.pending_events]
