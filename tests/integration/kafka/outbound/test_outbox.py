"""The outbox: the notification log read as the messages GCP publishes, and their positions.

No Kafka here: what the outbox returns is compared with the pure mapping of gcp_domain.stream
(folded independently from each aggregate's events) and with the contract schemas.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType

import pytest
from tests.integration.conftest import DURABLE

from gcp_app.application import GiftCertificates
from gcp_app.dead_letters import DeadLetter
from gcp_app.outbox import DEAD_LETTERS, STREAM, Outbox, Outgoing, stream_message
from gcp_domain import GiftCertificate
from gcp_domain.claims import NumberClaim
from gcp_domain.stream import rfc3339


def read_everything(outbox: Outbox, batch: int = 10_000, after: int = 0) -> list[Outgoing]:
    messages: list[Outgoing] = []
    while True:
        found, last = outbox.read(after, batch)
        messages.extend(found)
        if last == after:
            return messages
        after = last


def test_the_lifecycle_maps_to_the_pure_publications_in_log_order(
    app: GiftCertificates, kit: ModuleType
) -> None:
    kit.scenario(app)
    outbox = Outbox(app.store)

    messages, last = outbox.read(0, 100_000)

    assert last == app.store.recorder.max_notification_id()
    stream = [m for m in messages if m.destination == STREAM]
    assert stream == [stream_message(position, item) for position, item in kit.expected_stream(app)]
    assert [m.position for m in messages] == sorted(m.position for m in messages)
    statuses = [m.header("status") for m in stream]
    assert set(statuses) >= {
        "RESERVED", "ISSUED", "NOTIFICATION_REQUESTED", "NOTIFICATION_SENT",
        "PARTIALLY_REDEEMED", "REDEMPTION_REJECTED", "LOCKED", "ACTIVE", "REDEEMED",
        "REFUND_PENDING", "REFUNDED", "RESERVATION_RELEASED", "ISSUE_BLOCKED",
    }  # fmt: skip
    for message in stream:
        value = json.loads(message.value)
        kit.STREAM_SCHEMA.validate(value)
        assert message.headers == [
            ("eventId", value["eventId"].encode()),
            ("status", value["status"].encode()),
            ("schemaVersion", b"1"),
        ]


def test_each_certificate_publishes_in_version_order_keyed_by_its_id(
    app: GiftCertificates, kit: ModuleType
) -> None:
    kit.scenario(app)
    stream = [m for m in read_everything(Outbox(app.store)) if m.destination == STREAM]

    versions: dict[bytes | None, list[int]] = {}
    for message in stream:
        value = json.loads(message.value)
        expected_key = value["certificateId"] or value["pool"]
        assert message.key == expected_key.encode()
        versions.setdefault(message.key, []).append(value["version"])
    for key_versions in versions.values():
        assert key_versions == sorted(set(key_versions))
    blocked = [json.loads(m.value) for m in stream if m.header("status") == "ISSUE_BLOCKED"]
    assert [(b["pool"], b["certificateId"]) for b in blocked] == [(kit.TINY_POOL, None)]


def test_changes_that_publish_nothing_give_no_message(
    app: GiftCertificates, kit: ModuleType
) -> None:
    """Creation, CvcDisclosed, number claims, pool stock: recorded, not published; the position
    read still moves past them."""
    app.pools.generate_certificates(kit.POOL, 2, cause=kit.ADMIN)
    silent_end = app.store.recorder.max_notification_id()
    assert silent_end is not None

    messages, last = Outbox(app.store).read(0, 1000)

    assert (messages, last) == ([], silent_end)
    kit.full_lifecycle(app, "x")
    notifications = app.store.recorder.select_notifications(start=1, limit=1000)
    unpublished = {
        n.id
        for n in notifications
        if n.topic
        in (
            GiftCertificate.Created.TOPIC,
            GiftCertificate.CvcDisclosed.TOPIC,
            NumberClaim.Created.TOPIC,
        )
    }
    assert len(unpublished) >= 5
    published = {m.position for m in read_everything(Outbox(app.store))}
    assert published.isdisjoint(unpublished)


def test_dead_letters_go_to_the_dead_letter_destination(
    app: GiftCertificates, kit: ModuleType
) -> None:
    letter_id = kit.record_dead_letter(app, offset=42)
    no_key = kit.record_dead_letter(app, offset=43, key=None)

    messages = read_everything(Outbox(app.store))

    assert [m.destination for m in messages] == [DEAD_LETTERS, DEAD_LETTERS]
    first, second = messages
    value = json.loads(first.value)
    kit.DLQ_SCHEMA.validate(value)
    stored = next(iter(app.store.events.get(letter_id)))
    assert value["deadLetterId"] == str(letter_id)
    assert value["detectedAt"] == rfc3339(stored.timestamp)
    assert value["sourceOffset"] == 42
    assert first.key == b"WEB-9"
    assert dict(first.headers) == {
        "reasonCode": b"not-json",
        "sourceTopic": b"All_Payments",
        "deadLetterId": str(letter_id).encode(),
    }
    assert second.key is None
    assert json.loads(second.value)["deadLetterId"] == str(no_key)
    assert kit.dead_letter_ids(app) == [str(letter_id), str(no_key)]
    assert DeadLetter.create_id("All_Payments", 1, 42) == letter_id


def test_values_are_compact_utf8_json(app: GiftCertificates, kit: ModuleType) -> None:
    kit.scenario(app)
    for message in read_everything(Outbox(app.store)):
        text = message.value.decode("utf-8")
        assert json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False) == text


@pytest.mark.parametrize(("batch", "cache_size"), [(1, 1), (7, 2), (50, 10_000)])
def test_batches_and_a_small_cache_give_the_same_messages(
    app: GiftCertificates, kit: ModuleType, batch: int, cache_size: int
) -> None:
    """Cache misses and version gaps load the aggregate at the version before the event."""
    kit.scenario(app, rounds=2)
    everything = read_everything(Outbox(app.store))

    outbox = Outbox(app.store, cache_size=cache_size)
    assert read_everything(outbox, batch=batch) == everything
    if cache_size < 10:
        assert outbox.cache_misses > 0


def test_reading_again_from_an_earlier_position_gives_the_same_messages(
    app: GiftCertificates, kit: ModuleType
) -> None:
    """A relay that re-sends after a failure goes back: the cache is ahead of the events."""
    kit.scenario(app)
    outbox = Outbox(app.store)
    everything = read_everything(outbox)
    middle = everything[len(everything) // 2].position - 1

    again = read_everything(outbox, after=middle)

    assert again == [m for m in everything if m.position > middle]
    assert read_everything(Outbox(app.store), after=middle) == again  # a fresh outbox (a restart)


def test_an_empty_store_reads_nothing(app: GiftCertificates) -> None:
    assert Outbox(app.store).read(0, 10) == ([], 0)
    assert Outbox(app.store).last_position() == 0
    with pytest.raises(ValueError, match="limit"):
        Outbox(app.store).read(0, 0)


def test_positions_are_kept_per_name_and_never_go_back(app: GiftCertificates) -> None:
    outbox = Outbox(app.store)
    assert outbox.position("GiftCertificates.Stream") == 0

    assert outbox.record_position("GiftCertificates.Stream", 5)
    assert not outbox.record_position("GiftCertificates.Stream", 5)
    assert not outbox.record_position("GiftCertificates.Stream", 3)
    assert outbox.record_position("Replay", 2)

    assert outbox.position("GiftCertificates.Stream") == 5
    assert outbox.position("Replay") == 2
    assert app.store.inbox.max_tracking_id("outbox:GiftCertificates.Stream") == 5


@DURABLE
def test_positions_survive_a_restart(
    make_app: Callable[[], GiftCertificates], kit: ModuleType
) -> None:
    first = make_app()
    kit.more_changes(first, "p", count=1)
    Outbox(first.store).record_position("GiftCertificates.Stream", 9)

    assert Outbox(make_app().store).position("GiftCertificates.Stream") == 9
