"""Every event of a certificate or a pool either publishes a status or is declared unpublished:
a new event class cannot be left out of the stream unnoticed."""

from __future__ import annotations

from typing import Any

from gcp_domain.certificate import GiftCertificate
from gcp_domain.pool import CertificatePool
from gcp_domain.stream import (
    _POOL_STATUS,
    _STATUS,
    POOL_UNPUBLISHED,
    STATUSES,
    UNPUBLISHED,
)
from gcp_domain.vocabulary import StreamStatus


def event_classes(aggregate: type[Any]) -> set[type]:
    base = aggregate.Event
    return {
        member
        for member in vars(aggregate).values()
        if isinstance(member, type) and issubclass(member, base) and member is not base
    }


def test_every_certificate_event_publishes_a_status_or_is_declared_unpublished() -> None:
    events = event_classes(GiftCertificate)
    assert len(events) == 20
    assert set(_STATUS) | UNPUBLISHED == events
    assert not set(_STATUS) & UNPUBLISHED


def test_every_pool_event_publishes_a_status_or_is_declared_unpublished() -> None:
    events = event_classes(CertificatePool)
    assert set(_POOL_STATUS) | POOL_UNPUBLISHED == events
    assert not set(_POOL_STATUS) & POOL_UNPUBLISHED


def test_the_statuses_are_the_contracts() -> None:
    assert tuple(StreamStatus) == STATUSES
    assert "ISSUE_BLOCKED" in STATUSES
    assert "REDEEMED" in STATUSES


def test_the_tables_know_the_classes_that_replayed_events_have() -> None:
    """The tables are keyed by class: an event decoded from the store is of that very class."""
    certificate_events = event_classes(GiftCertificate)
    assert GiftCertificate.Reserved in certificate_events
    assert all(event.__qualname__.startswith("GiftCertificate.") for event in certificate_events)
