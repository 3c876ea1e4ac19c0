"""A certificate's state object as the stream last published it (what the compacted topic
holds for its key), read for one certificate or for many in one query.

`GET /certificates/{id}` reads through a desk (`reading_desk`): the reads that arrive together
share one query, so a busy API pays one round trip to the store per group, not per request.
Each group's query starts after its requests arrived, so a read still sees every write that
was answered before it was asked (read your own writes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final
from uuid import UUID

from gcp_app.audit import replay
from gcp_app.desk import Desk
from gcp_app.errors import CertificateNotFound
from gcp_app.recorders import select_events_of_many
from gcp_app.store import EventStore
from gcp_domain.certificate import GiftCertificate
from gcp_domain.stream import CREATED_STATUS, certificate_object, certificate_status

# As the reservation desk: one group's query stays short, and one clerk decodes a group while
# the other waits for the store.
MAX_GROUP: Final = 64
CLERKS: Final = 2

StateObject = dict[str, Any]


def certificate_events(events: Sequence[Any]) -> Sequence[Any]:
    """`events` (an aggregate's, oldest first) if they are a certificate's: another
    aggregate's id, or none at all, is no certificate (CertificateNotFound)."""
    if not events or not isinstance(events[0], GiftCertificate.Created):
        raise CertificateNotFound("no such certificate")
    return events


def state_object(events: Sequence[Any]) -> StateObject:
    """The object of the certificate's latest publication, from its events (oldest first); a
    certificate never published yet shows status CREATED."""
    certificate_events(events)
    certificate: GiftCertificate | None = None
    shown: tuple[Any, str] | None = None
    for event in events:
        certificate = event.mutate(certificate)
        assert certificate is not None
        status = certificate_status(certificate, event)
        if status is not None or shown is None:
            shown = (event, status or CREATED_STATUS)
    assert shown is not None
    assert certificate is not None
    event, status = shown
    # The state as of that publication, so that the object equals the stream's message: the
    # certificate as it is, unless unpublished changes followed (a CVC handed out).
    if event is not events[-1]:
        certificate = replay(events, version=event.originator_version)
        assert certificate is not None
    return certificate_object(certificate, event, status)


def state_objects(store: EventStore, ids: Sequence[UUID]) -> list[StateObject | Exception]:
    """The state objects of `ids` in one read, in the order asked (an id may repeat); an
    unknown id's answer is CertificateNotFound, and a certificate that cannot be shown fails
    its own reads, not the group's."""
    stored = select_events_of_many(store.recorder, dict.fromkeys(ids, (0, None)))
    to_domain_event = store.mapper.to_domain_event
    found: dict[UUID, StateObject | Exception] = {}
    for certificate_id in ids:
        if certificate_id not in found:
            try:
                events = [to_domain_event(e) for e in stored.get(certificate_id, ())]
                found[certificate_id] = state_object(events)
            except Exception as refusal:  # this read's answer, not the whole group's
                found[certificate_id] = refusal
    return [found[certificate_id] for certificate_id in ids]


def reading_desk(store: EventStore) -> Desk[UUID, StateObject]:
    """The desk that groups concurrent reads of state objects into one query each."""

    def serve(ids: Sequence[UUID]) -> list[StateObject | Exception]:
        return state_objects(store, ids)

    return Desk(serve, name="reading", max_group=MAX_GROUP, clerks=CLERKS)
