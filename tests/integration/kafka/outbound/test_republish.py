"""Republishing history: the same eventIds again, from a position, to the stream or another
topic; `gcp stream republish` uses the configured Kafka or the embedded broker of a running
`gcp serve`, and refuses to run without either."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from tests.integration.kafka.outbound.stores import SQLITE

from gcp_adapters.cli.main import main
from gcp_adapters.kafka.embedded import ADDRESS_FILE
from gcp_adapters.kafka.mock_cluster import ALL_BROKERS, MockCluster
from gcp_adapters.kafka.relay import Relay
from gcp_adapters.kafka.republish import RepublishStalled, republish
from gcp_app.application import GiftCertificates
from gcp_app.outbox import Outbox

REPLAY = "GiftCertificates.Replay"


@pytest.fixture
def configure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str
) -> Callable[[str | None], Path]:
    def set_up(kafka: str | None) -> Path:
        """Sets the environment `gcp stream republish` reads: a var directory (returned), the
        test's database, and the configured Kafka (None: unset)."""
        var = tmp_path / "var"
        monkeypatch.setenv("GCP_VAR_DIR", str(var))
        monkeypatch.setenv("GCP_DATABASE_URL", database_url)
        if kafka is None:
            monkeypatch.delenv("GCP_KAFKA_BOOTSTRAP_SERVERS", raising=False)
        else:
            monkeypatch.setenv("GCP_KAFKA_BOOTSTRAP_SERVERS", kafka)
        return var

    return set_up


@SQLITE
def test_republishing_sends_the_same_event_ids_again_in_order(
    app: GiftCertificates,
    kit: ModuleType,
    cluster: MockCluster,
    make_relay: Callable[..., Relay],
    read_topic: Callable[..., list],
) -> None:
    kit.scenario(app)
    expected = kit.expected_stream(app)
    relay = make_relay(app)
    kit.drain(relay)
    relayed_to = Outbox(app.store).position(kit.STREAM)
    done: list[int] = []

    result = republish(
        app, {"bootstrap.servers": cluster.bootstrap_servers}, kit.STREAM, progress=done.append
    )

    assert result.messages == len(expected)
    assert (result.first, result.last) == (1, relayed_to)
    assert sum(done) == relayed_to  # progress in notifications
    stream = read_topic(kit.STREAM, 2 * len(expected))
    counts = Counter(m.value["eventId"] for m in stream)
    assert counts == Counter({p.event_id: 2 for _, p in expected})
    kit.check_order_and_completeness(stream, expected)
    # Per key, the second pass repeats the first exactly, after it.
    firsts: dict[bytes | None, list[bytes]] = {}
    for message in kit.in_partition_order(stream):
        firsts.setdefault(message.key, []).append(message.raw)
    for raws in firsts.values():
        half = len(raws) // 2
        assert raws[:half] == raws[half:]
    assert Outbox(app.store).position(kit.STREAM) == relayed_to  # the relay's position is untouched
    assert len(read_topic(kit.DLQ, 1)) == 1  # dead letters are not republished


@SQLITE
def test_the_command_republishes_from_a_position_to_another_topic(
    app: GiftCertificates,
    kit: ModuleType,
    cluster: MockCluster,
    read_topic: Callable[..., list],
    configure: Callable[[str | None], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    kit.scenario(app)
    expected = kit.expected_stream(app)
    start = expected[len(expected) // 2][0]
    wanted = [(position, item) for position, item in expected if position >= start]
    cluster.create_topic(REPLAY, kit.PARTITIONS)
    configure(cluster.bootstrap_servers)

    code = main(["stream", "republish", "--from", str(start), "--topic", REPLAY])

    out, err = capsys.readouterr()
    assert code == 0, err
    newest = app.store.recorder.max_notification_id()
    assert f"republished {len(wanted)} messages of positions {start}..{newest} to {REPLAY}" in out
    assert "100%" in err  # the progress bar reached the end
    replayed = read_topic(REPLAY, len(wanted))
    assert sorted(m.value["eventId"] for m in replayed) == sorted(p.event_id for _, p in wanted)
    kit.check_order_and_completeness(replayed, wanted)
    assert Outbox(app.store).position(REPLAY) == 0  # a one-off: no position recorded


@SQLITE
def test_the_command_refuses_without_a_configured_kafka(
    app: GiftCertificates,
    kit: ModuleType,
    configure: Callable[[str | None], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    kit.scenario(app)
    configure(None)

    assert main(["stream", "republish"]) == 2

    _, err = capsys.readouterr()
    assert "no Kafka to republish to: set GCP_KAFKA_BOOTSTRAP_SERVERS" in err


@SQLITE
def test_the_command_finds_the_embedded_broker_of_a_running_service(
    app: GiftCertificates,
    kit: ModuleType,
    cluster: MockCluster,
    configure: Callable[[str | None], Path],
    check_stream: Callable[..., None],
) -> None:
    kit.scenario(app)
    expected = kit.expected_stream(app)
    var = configure(None)
    var.mkdir(exist_ok=True)
    (var / ADDRESS_FILE).write_text(cluster.bootstrap_servers + "\n")  # as `gcp serve` leaves it

    assert main(["stream", "republish"]) == 0

    check_stream(expected)


@SQLITE
def test_republishing_to_unreachable_brokers_gives_up_with_a_clear_error(
    app: GiftCertificates, kit: ModuleType, cluster: MockCluster
) -> None:
    kit.scenario(app)
    cluster.broker_down(ALL_BROKERS)
    try:
        with pytest.raises(RepublishStalled, match="no message acknowledged for 1 s"):
            republish(
                app,
                {"bootstrap.servers": cluster.bootstrap_servers},
                kit.STREAM,
                stall_timeout=1.0,
            )
    finally:
        cluster.broker_up(ALL_BROKERS)
