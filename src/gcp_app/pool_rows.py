"""What the pool index holds of one certificate: a row, written with the certificate's events.

The pool index is a table beside the events (gcp_app.pool_tables), not a model rebuilt in each
process: every save of a certificate writes its row in the same transaction as its events, so
the index is never behind the store, costs no memory in the processes, and a process starting
up reads nothing of it. A row is taken from the certificate as saved (`row_of`), never decoded
from events, so a new event class needs nothing here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Final
from uuid import UUID

import attrs

from gcp_domain.certificate import GiftCertificate
from gcp_domain.vocabulary import FINAL_STATES, CertificateState


class Level(StrEnum):
    """Where a certificate stands in its pool (the pool's status counts these)."""

    AVAILABLE = "available"
    RESERVED = "reserved"
    ISSUED = "issued"
    CANCELLED = "cancelled"


def level_of(state: CertificateState) -> Level:
    if state is CertificateState.AVAILABLE:
        return Level.AVAILABLE
    if state is CertificateState.RESERVED:
        return Level.RESERVED
    if state is CertificateState.CANCELLED:
        return Level.CANCELLED
    return Level.ISSUED


class DeadlineKind(StrEnum):
    """The two timers' deadlines: a reservation's `reservedUntil`, an issue's `expiresAt`."""

    RESERVATION = "reservation"
    EXPIRY = "expiry"


@attrs.frozen
class PoolRow:
    """A certificate as the pool index sees it: its pool and state, and the deadlines the
    timers act on (each with the order it was for), at `version`."""

    certificate_id: UUID
    version: int
    pool: str
    state: CertificateState
    reserved_until: datetime | None = None
    reservation_order: str | None = None
    expires_at: datetime | None = None
    expiry_order: str | None = None


def row_of(certificate: GiftCertificate) -> PoolRow:
    """The row of `certificate` as it is now (saved with its pending events)."""
    # A deadline only while its timer may still act: a reservation while RESERVED, an expiry
    # until the certificate is final.
    held = certificate.reservation if certificate.state is CertificateState.RESERVED else None
    terms = certificate.issue_terms if certificate.state not in FINAL_STATES else None
    return PoolRow(
        certificate_id=certificate.id,
        version=certificate.version,
        pool=certificate.pool,
        state=certificate.state,
        reserved_until=held.until if held is not None else None,
        reservation_order=held.order_id if held is not None else None,
        expires_at=terms.expires_at if terms is not None else None,
        expiry_order=terms.order_id if terms is not None else None,
    )


def latest_rows(rows: Iterable[PoolRow]) -> list[PoolRow]:
    """One row per certificate, its latest (a batch may hold a certificate more than once; one
    statement may not write a row twice)."""
    latest: dict[UUID, PoolRow] = {}
    for row in rows:
        known = latest.get(row.certificate_id)
        if known is None or row.version > known.version:
            latest[row.certificate_id] = row
    return list(latest.values())


@attrs.frozen
class PoolLevels:
    pool: str
    available: int
    reserved: int
    issued: int
    cancelled: int

    @classmethod
    def of(cls, pool: str, counts: dict[CertificateState, int]) -> PoolLevels:
        """The levels from the number of certificates in each state."""
        levels = dict.fromkeys(Level, 0)
        for state, count in counts.items():
            levels[level_of(state)] += count
        return cls(
            pool=pool,
            available=levels[Level.AVAILABLE],
            reserved=levels[Level.RESERVED],
            issued=levels[Level.ISSUED],
            cancelled=levels[Level.CANCELLED],
        )


@attrs.frozen
class Deadline:
    """A timer's due work: the certificate, its deadline, the order it was for, and the version
    of the certificate the index held when it handed this out."""

    certificate_id: UUID
    at: datetime
    order_id: str | None
    version: int


# The key under which a row's list travels from `EventStore.save` to the recorder.
POOL_ROWS: Final = "pool_rows"
