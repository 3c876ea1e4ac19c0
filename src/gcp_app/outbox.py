"""The outbox: the notification log read as the messages GCP publishes.

The event store is the outbox. Every stored change has a position in the application's
notification log; this module maps the notifications after a position to the messages they
publish (GiftCertificates.Stream for certificates and pools, GiftCertificates.DLQ for dead
letters) and keeps, per publishing destination, how far they were delivered. It knows nothing
of Kafka: the relay (gcp_adapters.kafka.relay) sends what it returns.

Mapping is a pure function of (aggregate right after the event, the event), so the outbox keeps
the aggregates it has seen at their last version (an LRU cache): a notification costs one
`mutate`. On a miss, or when the cached copy is not exactly one version behind (after a restart,
an eviction, or when a relay goes back to re-send), it loads the aggregate at the version before
the event from the store.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal
from uuid import UUID

import attrs
from eventsourcing.persistence import IntegrityError, Notification, Tracking

from gcp_app.dead_letters import DeadLetter, dead_letter_message
from gcp_app.parked import ParkedMessage
from gcp_app.recorders import VersionRange, aggregates_up_to
from gcp_app.store import EventStore
from gcp_domain.cause import Cause
from gcp_domain.certificate import GiftCertificate
from gcp_domain.pool import CertificatePool
from gcp_domain.stream import Publication, publication

Destination = Literal["stream", "dead-letters"]
STREAM: Final[Destination] = "stream"
DEAD_LETTERS: Final[Destination] = "dead-letters"

# Only certificates and pools are kept. A miss costs a read and a rebuild from all the
# aggregate's events, and a certificate publishes again days after its sale (its notification
# result, its redemptions): enough room for every certificate in play keeps the relay's CPU,
# which shares the machine with the consumer, for publishing.
DEFAULT_CACHE_SIZE: Final = 100_000
POSITION_PREFIX: Final = "outbox:"

# Notifications of these aggregates can publish; the rest (claims, sales orders, ...) are
# skipped without being decoded.
_STATEFUL_PREFIXES: Final = (f"{GiftCertificate.TOPIC}.", f"{CertificatePool.TOPIC}.")
_DEAD_LETTER_CREATED: Final = DeadLetter.Created.TOPIC


def compact_json(value: Any) -> bytes:
    """The wire form of a message body: compact JSON, UTF-8 (not ASCII-escaped)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@attrs.frozen
class Outgoing:
    """One message to publish: the notification it comes from, where it goes, and its bytes."""

    position: int
    destination: Destination
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]

    def header(self, name: str) -> str | None:
        for header_name, value in self.headers:
            if header_name == name:
                return value.decode("utf-8")
        return None


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def stream_message(position: int, item: Publication) -> Outgoing:
    return Outgoing(
        position=position,
        destination=STREAM,
        key=item.key.encode("utf-8"),
        value=compact_json(item.value),
        headers=[(name, value.encode("utf-8")) for name, value in item.headers.items()],
    )


class Outbox:
    """Reads the application's notification log as outgoing messages. Not thread-safe: one
    reader (one relay) per Outbox."""

    def __init__(self, store: EventStore, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        self.store = store
        self.cache_size = cache_size
        self._aggregates: OrderedDict[UUID, Any] = OrderedDict()
        self.cache_hits = 0
        self.cache_misses = 0

    @property
    def cached(self) -> int:
        """How many aggregates the cache holds (at most `cache_size`)."""
        return len(self._aggregates)

    # ------------------------------------------------------------------ reading

    def read(self, after: int, limit: int) -> tuple[list[Outgoing], int]:
        """The messages of up to `limit` notifications after position `after`, in log order,
        and the position of the last notification read (`after` if there was none)."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        notifications = self.store.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        preloaded = self._preload(notifications)
        messages: list[Outgoing] = []
        last = after
        for notification in notifications:
            last = notification.id
            message = self._message(notification, preloaded)
            if message is not None:
                messages.append(message)
        return messages, last

    def last_position(self) -> int:
        """The position of the newest notification (0 for an empty store)."""
        return self.store.recorder.max_notification_id() or 0

    def _preload(self, notifications: Sequence[Notification]) -> dict[UUID, Any]:
        """The aggregates the cache cannot move on by one `mutate` for this batch (the first
        event of each in the batch is not one version after the cached copy): read from the
        store at the version before that event, all in one read, instead of one each."""
        first: dict[UUID, int] = {}
        for notification in notifications:
            if notification.topic.startswith(_STATEFUL_PREFIXES):
                originator_id = _uuid(notification.originator_id)
                first.setdefault(originator_id, notification.originator_version)
        wanted: dict[UUID, VersionRange] = {}
        for originator_id, version in first.items():
            cached = self._aggregates.get(originator_id)
            if version > 1 and (cached is None or cached.version != version - 1):
                wanted[originator_id] = (0, version - 1)
        return aggregates_up_to(self.store, wanted) if wanted else {}

    def _message(
        self, notification: Notification, preloaded: Mapping[UUID, Any] | None = None
    ) -> Outgoing | None:
        topic = notification.topic
        if topic == _DEAD_LETTER_CREATED:
            created: Any = self.store.mapper.to_domain_event(notification)
            letter = created.mutate(None)
            assert isinstance(letter, DeadLetter)
            message = dead_letter_message(letter, created.timestamp)
            return Outgoing(
                position=notification.id,
                destination=DEAD_LETTERS,
                key=message.key,
                value=compact_json(message.value),
                headers=[(name, value.encode("utf-8")) for name, value in message.headers.items()],
            )
        if not topic.startswith(_STATEFUL_PREFIXES):
            return None
        event = self.store.mapper.to_domain_event(notification)
        aggregate = self._apply(event, preloaded or {})
        item = publication(aggregate, event)
        return None if item is None else stream_message(notification.id, item)

    def _apply(self, event: Any, preloaded: Mapping[UUID, Any]) -> object:
        """The aggregate right after `event`: the cached copy moved on by one `mutate`, or the
        stored copy at the version before (a miss, or the cache is not one version behind),
        preloaded for the batch or read now."""
        originator_id: UUID = event.originator_id
        version: int = event.originator_version
        cached = self._aggregates.get(originator_id)
        if cached is not None and cached.version == version - 1:
            self.cache_hits += 1
            previous = cached
        elif version == 1:
            previous = None
        else:
            self.cache_misses += 1
            previous = preloaded.get(originator_id)
            if previous is None or previous.version != version - 1:
                previous = self.store.repository.get(originator_id, version=version - 1)
        aggregate = event.mutate(previous)
        self._aggregates[originator_id] = aggregate
        self._aggregates.move_to_end(originator_id)
        while len(self._aggregates) > self.cache_size:
            self._aggregates.popitem(last=False)
        return aggregate

    # ------------------------------------------------------------------ parked messages

    def park(self, message: Outgoing, error: str, cause: Cause) -> bool:
        """Records that the brokers refused `message` for good (see gcp_app.parked).
        Returns False if it was parked already (a relay that parked it and then restarted)."""
        parked = ParkedMessage.park(
            destination=message.destination,
            position=message.position,
            key=message.key,
            size=len(message.value),
            error=error,
            cause=cause,
        )
        try:
            self.store.save(parked)
        except IntegrityError:
            return False
        return True

    def parked(self, after: int = 0, limit: int = 1000) -> list[ParkedMessage]:
        """The parked messages, oldest first, that were parked after notification `after`."""
        notifications = self.store.recorder.select_notifications(
            start=after,
            limit=limit,
            topics=[ParkedMessage.Created.TOPIC],
            inclusive_of_start=False,
        )
        found: list[ParkedMessage] = []
        for notification in notifications:
            created: Any = self.store.mapper.to_domain_event(notification)
            parked = created.mutate(None)
            assert isinstance(parked, ParkedMessage)
            found.append(parked)
        return found

    # ------------------------------------------------------------------ positions

    @staticmethod
    def tracking_name(name: str) -> str:
        return f"{POSITION_PREFIX}{name}"

    def position(self, name: str) -> int:
        """How far messages for `name` (the stream topic's name) were delivered: every
        notification up to this position is done. 0 before the first delivery."""
        return self.store.inbox.max_tracking_id(self.tracking_name(name)) or 0

    def record_position(self, name: str, position: int) -> bool:
        """Records that every notification up to `position` is delivered for `name`. A position
        not beyond the recorded one is ignored (returns False): positions never go back."""
        # No read first: the store's own check refuses a position not beyond the recorded one
        # (IntegrityError), in the same round trip as the write.
        try:
            self.store.inbox.insert_tracking(Tracking(self.tracking_name(name), position))
        except IntegrityError:
            return False  # Not beyond the recorded one (another relay got there first).
        return True
