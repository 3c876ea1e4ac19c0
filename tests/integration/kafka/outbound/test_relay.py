"""The relay on a mock cluster: what lands on the topics, restarts, produce errors, outages.

Real confluent-kafka producers and consumers; the messages are read back from the beginning of
every partition and checked against the pure mapping (kit.expected_stream) and the schemas.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from types import ModuleType

import pytest
from confluent_kafka import KafkaError
from tests.integration.conftest import DURABLE
from tests.integration.kafka.outbound.stores import SQLITE

from gcp_adapters.kafka.mock_cluster import ALL_BROKERS, PRODUCE_API_KEY, MockCluster
from gcp_adapters.kafka.relay import PRODUCER_REQUIRED, Relay, relay_producer_config
from gcp_app.application import GiftCertificates
from gcp_app.outbox import Outbox


@DURABLE
def test_the_relay_publishes_every_change_and_dead_letter_once(
    app: GiftCertificates,
    kit: ModuleType,
    make_relay: Callable[..., Relay],
    read_topic: Callable[..., list],
) -> None:
    kit.scenario(app)
    expected = kit.expected_stream(app)
    relay = make_relay(app)

    kit.drain(relay)

    assert relay.position == kit.newest(app)
    assert Outbox(app.store).position(kit.STREAM) == kit.newest(app)  # recorded in the store
    stream = read_topic(kit.STREAM, len(expected))
    assert sorted(m.value["eventId"] for m in stream) == sorted(p.event_id for _, p in expected)
    by_event = {p.event_id: p for _, p in expected}
    for message in stream:
        item = by_event[message.value["eventId"]]
        kit.STREAM_SCHEMA.validate(message.value)
        assert message.value == item.value
        assert message.key == item.key.encode()
        assert message.headers == {
            "eventId": item.event_id,
            "status": item.status,
            "schemaVersion": "1",
        }
        if item.status == "ISSUE_BLOCKED":
            assert message.key == kit.TINY_POOL.encode()
        elif item.status == "POOL_LOW":  # the scenario's pools are below the default watermark
            assert message.key == message.value["pool"].encode()
        else:
            assert message.key == message.value["certificateId"].encode()
    kit.check_order_and_completeness(stream, expected)
    letters = read_topic(kit.DLQ, 1)
    assert [m.value["deadLetterId"] for m in letters] == kit.dead_letter_ids(app)
    for letter in letters:
        kit.DLQ_SCHEMA.validate(letter.value)
        assert letter.key == b"WEB-9"
        assert letter.headers["deadLetterId"] == letter.value["deadLetterId"]
    stats = relay.stats()
    assert stats.published == len(expected) + 1
    assert (stats.delivery_errors, stats.in_flight, stats.last_position) == (0, 0, kit.newest(app))


def test_the_producer_is_idempotent_and_never_times_messages_out() -> None:
    config = relay_producer_config(
        {"bootstrap.servers": "kafka:9092", "acks": "1", "linger.ms": 20}
    )

    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"  # what the guarantees stand on cannot be configured away
    assert config["message.timeout.ms"] == 0
    assert config["enable.gapless.guarantee"] is True
    assert config["linger.ms"] == 20
    assert PRODUCER_REQUIRED.keys() <= config.keys()
    with pytest.raises(ValueError, match=r"bootstrap\.servers"):
        relay_producer_config({})


@DURABLE
def test_a_new_relay_resumes_from_the_recorded_position_without_gap_or_duplicate(
    make_app: Callable[[], GiftCertificates],
    kit: ModuleType,
    make_relay: Callable[..., Relay],
    read_topic: Callable[..., list],
) -> None:
    app = make_app()
    kit.scenario(app)
    first = make_relay(app, batch_size=10)
    first.run_once(timeout=10)
    first.run_once(timeout=10)
    stopped_at = first.position
    assert 0 < stopped_at < kit.newest(app)
    first.close()
    kit.more_changes(app, "late")

    restarted = make_app()  # another process on the same store
    second = make_relay(restarted)
    assert second.position == stopped_at
    kit.drain(second)

    expected = kit.expected_stream(restarted)
    stream = read_topic(kit.STREAM, len(expected))
    counts = Counter(m.value["eventId"] for m in stream)
    assert set(counts) == {p.event_id for _, p in expected}
    assert max(counts.values()) == 1  # a clean stop re-sends nothing
    kit.check_order_and_completeness(stream, expected)


@DURABLE
def test_the_run_loop_follows_new_changes(
    app: GiftCertificates,
    kit: ModuleType,
    make_relay: Callable[..., Relay],
    running: Callable[..., object],
    check_stream: Callable[..., None],
) -> None:
    """PostgreSQL wakes the relay through the store's subscription; SQLite is polled."""
    kit.scenario(app)
    runner = running(make_relay(app, poll_interval=0.05))
    runner.wait_for_position(kit.newest(app), timeout=20)  # type: ignore[attr-defined]

    kit.more_changes(app, "live", count=3)
    runner.wait_for_position(kit.newest(app), timeout=20)  # type: ignore[attr-defined]
    runner.stop()  # type: ignore[attr-defined]

    check_stream(kit.expected_stream(app))


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_on_postgres_a_new_change_wakes_the_waiting_relay(
    app: GiftCertificates,
    kit: ModuleType,
    make_relay: Callable[..., Relay],
    running: Callable[..., object],
) -> None:
    """The insert's NOTIFY wakes the relay: it does not wait for its (here very long) poll."""
    kit.scenario(app)
    relay = make_relay(app, poll_interval=60.0)
    runner = running(relay)
    runner.wait_for_position(kit.newest(app), timeout=20)  # type: ignore[attr-defined]
    time.sleep(0.3)  # caught up: waiting to be woken

    kit.more_changes(app, "live", count=1)
    runner.wait_for_position(kit.newest(app), timeout=5)  # type: ignore[attr-defined]

    relay.stop()  # wakes it now, not after the poll interval
    runner.stop()  # type: ignore[attr-defined]


@SQLITE
def test_injected_produce_errors_lose_nothing_and_keep_each_certificates_order(
    app: GiftCertificates,
    kit: ModuleType,
    cluster: MockCluster,
    make_relay: Callable[..., Relay],
    check_stream: Callable[..., None],
) -> None:
    """Retriable errors are retried by the producer in order; a non-retriable one stops it
    (gap-less guarantee) and the relay re-sends from the first unacknowledged message."""
    kit.scenario(app, rounds=3)
    expected = kit.expected_stream(app)
    cluster.push_request_errors(
        PRODUCE_API_KEY,
        [
            KafkaError.NOT_LEADER_FOR_PARTITION,
            KafkaError.REQUEST_TIMED_OUT,
            KafkaError.NOT_ENOUGH_REPLICAS,
            KafkaError._TRANSPORT,
            KafkaError.TOPIC_AUTHORIZATION_FAILED,  # not retriable: a delivery error
            KafkaError.NOT_LEADER_FOR_PARTITION,
            KafkaError.TOPIC_AUTHORIZATION_FAILED,
        ],
    )
    relay = make_relay(app, batch_size=15)

    kit.drain(relay, timeout=30)

    stats = relay.stats()
    assert stats.delivery_errors >= 1
    assert stats.producer_restarts >= 1
    assert "authorization" in (stats.last_error or "").lower()
    assert relay.position == kit.newest(app)
    check_stream(expected)


@DURABLE
def test_a_broker_outage_delays_publication_and_loses_nothing(
    app: GiftCertificates,
    kit: ModuleType,
    cluster: MockCluster,
    make_relay: Callable[..., Relay],
    running: Callable[..., object],
    check_stream: Callable[..., None],
) -> None:
    kit.scenario(app)
    relay = make_relay(app)
    runner = running(relay)
    runner.wait_for_position(kit.newest(app), timeout=20)  # type: ignore[attr-defined]

    assert relay.stalled(after=1.0) is None  # caught up: readiness is ok
    cluster.broker_down(ALL_BROKERS)
    before_outage = relay.position
    kit.more_changes(app, "outage", count=2)  # recorded while the brokers are away
    time.sleep(3.0)
    # Readiness tells the truth: messages wait, and nothing has moved for over a second.
    assert f"after notification {relay.position}" in (relay.stalled(after=1.0) or "")
    # Nothing is acknowledged while the brokers are down: the position may only pass the
    # notifications that publish nothing, never a message.
    waiting, _ = Outbox(app.store).read(before_outage, 10_000)
    assert relay.position < waiting[0].position
    assert relay.stats().in_flight > 0
    kit.more_changes(app, "still", count=1)
    cluster.broker_up(ALL_BROKERS)

    runner.wait_for_position(kit.newest(app), timeout=30)  # type: ignore[attr-defined]
    assert relay.stalled(after=1.0) is None
    runner.stop()  # type: ignore[attr-defined]
    assert relay.stats().delivery_errors == 0  # waited out, not failed
    check_stream(kit.expected_stream(app))


@SQLITE
def test_a_relay_stopped_during_an_outage_leaves_the_rest_to_the_next_one(
    make_app: Callable[[], GiftCertificates],
    kit: ModuleType,
    cluster: MockCluster,
    make_relay: Callable[..., Relay],
    check_stream: Callable[..., None],
) -> None:
    app = make_app()
    kit.scenario(app)
    first = make_relay(app)
    kit.drain(first)
    published = first.position
    cluster.broker_down(ALL_BROKERS)
    kit.more_changes(app, "down", count=2)

    first.run_once(timeout=1.5)  # produced, never acknowledged
    # Only the unpublishing notifications before the first unacknowledged message are done.
    waiting, _ = Outbox(app.store).read(published, 10_000)
    assert first.position == waiting[0].position - 1
    assert first.stats().in_flight == len(waiting)
    first.close()  # a shutdown (or a crash) during the outage
    assert Outbox(app.store).position(kit.STREAM) == first.position

    cluster.broker_up(ALL_BROKERS)
    second = make_relay(make_app())
    kit.drain(second, timeout=30)

    assert second.position == kit.newest(app)
    check_stream(kit.expected_stream(app))


@SQLITE
def test_stop_interrupts_a_relay_waiting_for_its_reports(
    app: GiftCertificates,
    kit: ModuleType,
    cluster: MockCluster,
    make_relay: Callable[..., Relay],
    running: Callable[..., object],
) -> None:
    kit.scenario(app)
    cluster.broker_down(ALL_BROKERS)
    relay = make_relay(app)
    runner = running(relay)
    time.sleep(0.5)

    started = time.monotonic()
    runner.stop()  # type: ignore[attr-defined]

    assert time.monotonic() - started < 2.0
    assert relay.position < kit.newest(app)
    assert Outbox(app.store).position(kit.STREAM) == relay.position
    cluster.broker_up(ALL_BROKERS)


@pytest.mark.parametrize("database_url", ["memory"], indirect=True)
def test_values_on_the_wire_are_the_outbox_bytes(
    app: GiftCertificates,
    kit: ModuleType,
    make_relay: Callable[..., Relay],
    read_topic: Callable[..., list],
) -> None:
    kit.scenario(app)
    outgoing = [m for m in Outbox(app.store).read(0, 10_000)[0] if m.destination == "stream"]
    kit.drain(make_relay(app))

    stream = read_topic(kit.STREAM, len(outgoing))
    by_id = {json.loads(m.value)["eventId"]: m.value for m in outgoing}
    assert all(m.raw == by_id[m.value["eventId"]] for m in stream)
