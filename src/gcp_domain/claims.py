"""Uniqueness claims, kept by the event store itself.

Each claim is an aggregate whose id derives from the claimed value, so a second claim of the same
value cannot be saved: the store's (id, version) constraint refuses it in the same transaction
as the certificate that makes the claim. No extra table, and correct across processes.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Final
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from gcp_domain.cause import Cause

NUMBER_NAMESPACE: Final = uuid5(NAMESPACE_URL, "urn:gcp:certificate-number")
RESERVATION_KEY_NAMESPACE: Final = uuid5(NAMESPACE_URL, "urn:gcp:reservation-key")


class NumberClaim(Aggregate):
    """A printed number belongs to one certificate, across all pools."""

    TOPIC = "gcp:NumberClaim"

    class Created(Aggregate.Created):
        TOPIC = "gcp:NumberClaim.Created"
        number: str
        certificate_id: UUID
        cause: Cause

    @staticmethod
    def create_id(number: str) -> UUID:
        return number_claim_id(number)

    @event(Created)
    def __init__(self, number: str, certificate_id: UUID, cause: Cause) -> None:
        self.certificate_id = certificate_id


class ReservationKey(Aggregate):
    """One reservation per (channel, Idempotency-Key): a retry gets the same answer back."""

    TOPIC = "gcp:ReservationKey"

    class Created(Aggregate.Created):
        TOPIC = "gcp:ReservationKey.Created"
        owner: str
        key: str
        certificate_id: UUID
        pool: str
        reserved_until: datetime
        cause: Cause

    @staticmethod
    def create_id(owner: str, key: str) -> UUID:
        return reservation_key_id(owner, key)

    @event(Created)
    def __init__(
        self,
        owner: str,
        key: str,
        certificate_id: UUID,
        pool: str,
        reserved_until: datetime,
        cause: Cause,
    ) -> None:
        self.certificate_id = certificate_id
        self.pool = pool
        self.reserved_until = reserved_until


@functools.lru_cache(maxsize=8192)
def number_claim_id(number: str) -> UUID:
    # Cached: the matcher asks for it several times per message (a hash each time).
    return uuid5(NUMBER_NAMESPACE, number)


def reservation_key_id(owner: str, key: str) -> UUID:
    return uuid5(RESERVATION_KEY_NAMESPACE, f"{owner}\x00{key}")
