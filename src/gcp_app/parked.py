"""Parked messages: outgoing messages the brokers refuse for good (too large, say).

The relay publishes in log order and holds its position before a message that is not yet
delivered. A message the brokers will never take would hold it there forever, and every later
change would go unpublished. So a permanent refusal parks the message instead: the fact is
stored here (visible with `gcp stream parked`, counted in `gcp_relay_parked_total`), logged
once, and publishing goes on. The message itself stays in the notification log: once the
cause is fixed (a broker's size limit, say), `gcp stream republish --from <position>` sends it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from gcp_app.message_bytes import kept_bytes
from gcp_domain.cause import Cause
from gcp_domain.text import cut

PARKED_NAMESPACE: Final = uuid5(NAMESPACE_URL, "urn:gcp:parked-message")


def parked_message_id(destination: str, position: int) -> UUID:
    return uuid5(PARKED_NAMESPACE, f"{destination}/{position}")


class ParkedMessage(Aggregate):
    """One outgoing message parked: where it was going, from which notification, how large,
    and what the brokers said."""

    TOPIC = "gcp:ParkedMessage"

    class Created(Aggregate.Created):
        TOPIC = "gcp:ParkedMessage.Created"
        destination: str
        position: int
        key: str | None
        size: int
        error: str
        cause: Cause

    @staticmethod
    def create_id(destination: str, position: int) -> UUID:
        return parked_message_id(destination, position)

    @classmethod
    def park(
        cls,
        *,
        destination: str,
        position: int,
        key: bytes | None,
        size: int,
        error: str,
        cause: Cause,
    ) -> ParkedMessage:
        # A typed name: the library's constructor returns Any to some mypy versions.
        parked: ParkedMessage = cls(
            destination=destination,
            position=position,
            key=kept_bytes(key),
            size=size,
            error=cut(error),
            cause=cause,
        )
        return parked

    @event(Created)
    def __init__(
        self,
        destination: str,
        position: int,
        key: str | None,
        size: int,
        error: str,
        cause: Cause,
    ) -> None:
        self.destination = destination
        self.position = position
        self.key = key
        self.size = size
        self.error = error

    @property
    def parked_at(self) -> datetime:
        return self.created_on
