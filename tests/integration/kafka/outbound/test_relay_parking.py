"""A message the brokers refuse for good is parked, and publishing goes on (contract 1.1: "no
message, however large, stops GCP's publishing"; gcp_app.parked).

GCP bounds what it records (text to 1,000 characters, a dead letter to the first 64 KiB of its
message), so nothing it makes reaches a broker's default limit of about 1 MB. These tests lower
the limit instead: the producer's own (`message.max.bytes`), and a broker that refuses a
request as too large.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from confluent_kafka import KafkaError

from gcp_adapters.kafka.mock_cluster import PRODUCE_API_KEY, MockCluster
from gcp_adapters.kafka.relay import Relay
from gcp_app.application import GiftCertificates
from gcp_app.outbox import DEAD_LETTERS, Outbox


def test_a_message_larger_than_the_producer_takes_is_parked_and_the_rest_is_published(
    app: GiftCertificates,
    kit: ModuleType,
    make_relay: Callable[..., Relay],
    read_topic: Callable[..., list],
    check_stream: Callable[..., None],
) -> None:
    kit.scenario(app)
    # 60 KB of value: about 80 KB once in the dead letter's JSON, over the 50 KB allowed below.
    large = kit.record_dead_letter(app, offset=7, value=b"x" * 60_000)
    large_position = kit.newest(app)
    kit.more_changes(app, "after-the-large-one")
    expected = kit.expected_stream(app)
    relay = make_relay(app, producer={"message.max.bytes": 50_000})

    kit.drain(relay)

    assert relay.position == kit.newest(app)
    assert relay.stats().parked == 1
    [parked] = Outbox(app.store).parked()
    assert (parked.destination, parked.position) == (DEAD_LETTERS, large_position)
    assert parked.size > 50_000
    assert "too large" in parked.error.lower()
    # Everything else went out: the stream whole, and the other dead letter.
    check_stream(expected)
    dead = read_topic(kit.DLQ, 1)
    assert [m.value["deadLetterId"] for m in dead] == [
        i for i in kit.dead_letter_ids(app) if i != str(large)
    ]


def test_a_parked_message_stays_parked_for_a_relay_that_starts_again(
    app: GiftCertificates, kit: ModuleType, make_relay: Callable[..., Relay]
) -> None:
    kit.record_dead_letter(app, offset=7, value=b"x" * 60_000)
    first = make_relay(app, producer={"message.max.bytes": 50_000})
    kit.drain(first)
    first.close()

    again = make_relay(app, producer={"message.max.bytes": 50_000})
    kit.drain(again)

    assert again.position == kit.newest(app)
    assert again.stats().parked == 0  # the position is past it: nothing is tried again
    assert len(Outbox(app.store).parked()) == 1


def test_a_message_a_broker_refuses_again_when_sent_alone_is_parked(
    app: GiftCertificates,
    kit: ModuleType,
    cluster: MockCluster,
    make_relay: Callable[..., Relay],
    check_stream: Callable[..., None],
) -> None:
    """One message a batch: the broker refuses the first request, and again when its message
    is sent alone; that message is parked and the rest published."""
    kit.scenario(app)
    expected = kit.expected_stream(app)
    cluster.push_request_errors(
        PRODUCE_API_KEY, [KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.MSG_SIZE_TOO_LARGE]
    )
    relay = make_relay(app, batch_size=1)

    kit.drain(relay, timeout=30)

    assert relay.position == kit.newest(app)
    [parked] = Outbox(app.store).parked()
    assert "too large" in parked.error.lower()
    first = min(position for position, _ in expected)
    assert parked.position == first  # the first message of the scenario
    published = [(position, item) for position, item in expected if position != first]
    check_stream(published)


def test_a_request_refused_in_a_batch_is_sent_again_alone_and_nothing_is_parked(
    app: GiftCertificates,
    kit: ModuleType,
    cluster: MockCluster,
    make_relay: Callable[..., Relay],
    check_stream: Callable[..., None],
) -> None:
    """A broker refuses a whole request, not one message of it: sent again alone, the message
    goes through, so nothing is lost to parking."""
    kit.scenario(app)
    expected = kit.expected_stream(app)
    cluster.push_request_errors(PRODUCE_API_KEY, [KafkaError.MSG_SIZE_TOO_LARGE])
    relay = make_relay(app)

    kit.drain(relay, timeout=30)

    assert relay.position == kit.newest(app)
    assert Outbox(app.store).parked() == []
    assert relay.stats().producer_restarts >= 1
    check_stream(expected)


class _StoreAwayOnce(Outbox):
    """An outbox whose first parking cannot be stored."""

    away = True

    def park(self, *args: Any, **kwargs: Any) -> bool:
        if self.away:
            self.away = False
            raise OSError("the store is away")
        return super().park(*args, **kwargs)


def test_a_parking_that_cannot_be_stored_is_tried_again(
    app: GiftCertificates, kit: ModuleType, make_relay: Callable[..., Relay]
) -> None:
    kit.record_dead_letter(app, offset=7, value=b"x" * 60_000)
    relay = make_relay(
        app, producer={"message.max.bytes": 50_000}, outbox=_StoreAwayOnce(app.store)
    )

    kit.drain(relay)

    assert relay.position == kit.newest(app)
    assert len(Outbox(app.store).parked()) == 1
    assert relay.stats().producer_restarts >= 1
