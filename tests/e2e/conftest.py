"""End to end through the topics: `gcp serve` in a subprocess on a mock Kafka cluster.

A `Deployment` is what a test talks to, the way the other teams would:

- a librdkafka mock cluster in this process (`MockCluster`), with the five topics the service
  uses created up front with several partitions each;
- `python -m gcp_adapters.cli.main serve --stock N` as a SUBPROCESS pointed at it
  (GCP_KAFKA_BOOTSTRAP_SERVERS), on its own SQLite file or PostgreSQL schema, started when it
  prints `ready:` and stopped with SIGTERM, which must end it with exit code 0;
- the application in this process on the same store, for what HTTP will do (reservations:
  `reserve_next`), and to look at the store;
- a producer of the inbound messages the tests build with gcp_app.inbound.builders (CONTRACTS.md's
  examples), encoded by the Kafka adapter's encoder under the contract's keys (orderId,
  clientId) and checked against the inbound schemas before they are sent;
- a reader of GiftCertificates.Stream and GiftCertificates.DLQ from the beginning.

`settle()` waits until the service has consumed everything sent (the positions its store
recorded), the relay has published everything stored (its recorded position) and the reader
has read both outbound topics up to their high watermarks: after it, what the reader holds is
exactly what was published, with no sleep and no guess. Every wait is bounded and fails with
what it saw and the service's output.

Tests reach the helpers through the `kit` fixture (this module): nothing imports a conftest.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec
from tests.schemas import contract_validator

from gcp_adapters.bootstrap import build_application
from gcp_adapters.kafka.encoding import encode, key_of, topic_of
from gcp_adapters.kafka.mock_cluster import MockCluster
from gcp_app.application import GiftCertificates
from gcp_app.inbound import builders as build
from gcp_app.inbound import inbox_source
from gcp_app.inbound.messages import GiftCertificateLine, InboundMessage
from gcp_app.outbox import POSITION_PREFIX
from gcp_app.reservation_desk import ReservationGranted
from gcp_app.settings import Settings
from gcp_domain import Cause
from gcp_domain.stream import certificate_status

SALES, PAYMENTS, CLIENTS = "All_SalesOrder", "All_Payments", "All_Clients"
STREAM, DLQ = "GiftCertificates.Stream", "GiftCertificates.DLQ"
INBOUND = (SALES, PAYMENTS, CLIENTS)
OUTBOUND = (STREAM, DLQ)
PARTITIONS = 3
POOL = "default"
STOCK = 200
READY_TIMEOUT = 60.0  # seconds: start-up, stocking the pool included
STOP_TIMEOUT = 30.0  # seconds: SIGTERM to exit
WAIT = 30.0  # seconds: the bound on every other wait
FAST_RECONNECT = {"reconnect.backoff.ms": 20, "reconnect.backoff.max.ms": 250}


@pytest.fixture(scope="session")
def kit() -> ModuleType:
    """This module: the deployment and the schemas (messages: gcp_app.inbound.builders)."""
    return sys.modules[__name__]


# ====================================================================== schemas


SCHEMAS = {
    SALES: contract_validator("sales-order.schema.json"),
    PAYMENTS: contract_validator("payment.schema.json"),
    CLIENTS: contract_validator("client.schema.json"),
    STREAM: contract_validator("gift-certificate.schema.json"),
    DLQ: contract_validator("dead-letter.schema.json"),
}


def check_schema(topic: str, value: dict[str, Any]) -> None:
    errors = sorted(SCHEMAS[topic].iter_errors(value), key=lambda e: list(e.absolute_path))
    assert not errors, f"{topic} message violates its schema: {[e.message for e in errors]}"


# ====================================================================== ids


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10].upper()}"


# ====================================================================== the service process


def service_environment(var_dir: Path, database_url: str, bootstrap: str, **extra: str) -> dict:
    """The subprocess's environment: ours without any GCP_* setting, then the deployment's."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("GCP_")}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "GCP_VAR_DIR": str(var_dir),
            "GCP_DATABASE_URL": database_url,
            "GCP_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "GCP_TIMER_INTERVAL_SECONDS": "1",
            "GCP_HTTP_PORT": "0",  # any free port: never clash with whatever holds 8080
            **extra,
        }
    )
    return env


class ServiceProcess:
    """`gcp serve` as a subprocess: stdout read line by line, the logs (stderr) to a file."""

    def __init__(self, env: dict[str, str], workdir: Path, *args: str) -> None:
        self.command = [sys.executable, "-m", "gcp_adapters.cli.main", "serve", *args]
        self.log_path = workdir / "service.log"
        self._log = self.log_path.open("wb")
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.popen = subprocess.Popen(
            self.command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, name="gcp-serve-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("ready:"):
                self._ready.set()

    def describe(self) -> str:
        if not self._log.closed:
            self._log.flush()
        logs = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        code = self.popen.poll()
        state = "running" if code is None else f"exited with {code}"
        tail = "\n  ".join(logs[-30:])
        return f"gcp serve ({state}); stdout: {self.lines}; last log lines:\n  {tail}"

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.popen.poll() is not None:
                self._reader.join(2)
                pytest.fail(f"gcp serve ended before it was ready: {self.describe()}")
            if time.monotonic() > deadline:
                pytest.fail(f"gcp serve printed no 'ready:' within {timeout} s: {self.describe()}")

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            pytest.fail(f"gcp serve died: {self.describe()}")

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, then the exit code; None (after a SIGKILL) if it did not end in time."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)
            code = None
        self._reader.join(5)
        self._log.close()
        return code


# ====================================================================== Kafka clients


class Received:
    """One consumed outbound message, decoded."""

    def __init__(self, message: Message) -> None:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        assert topic is not None
        assert partition is not None
        assert offset is not None
        self.topic, self.partition, self.offset = topic, partition, offset
        key, value = message.key(), message.value()
        assert key is None or isinstance(key, bytes)
        assert isinstance(value, bytes)
        self.key = key
        self.raw = value
        self.value: dict[str, Any] = json.loads(value.decode("utf-8"))
        self.headers = {name: data.decode("utf-8") for name, data in message.headers() or []}

    @property
    def status(self) -> str:
        return str(self.value["status"])

    def __repr__(self) -> str:
        what = self.value.get("status") or self.value.get("reasonCode")
        return f"<{self.topic}[{self.partition}]@{self.offset} {what} v{self.value.get('version')}>"


class Reader:
    """Reads GiftCertificates.Stream and GiftCertificates.DLQ from the beginning (assigned, no
    group), keeping everything it read in arrival order."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"e2e-reader-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                **FAST_RECONNECT,
            }
        )
        self.consumer.assign(
            [TopicPartition(t, p, OFFSET_BEGINNING) for t in OUTBOUND for p in range(PARTITIONS)]
        )
        self.admin = AdminClient({"bootstrap.servers": bootstrap})
        self.received: list[Received] = []
        self.next_offset: dict[tuple[str, int], int] = {}

    def poll(self, timeout: float = 0.1) -> None:
        for message in self.consumer.consume(num_messages=1000, timeout=timeout):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                pytest.fail(f"reader: consumer error {error}")
            item = Received(message)
            self.received.append(item)
            self.next_offset[(item.topic, item.partition)] = item.offset + 1

    def read_to_end(self, timeout: float = WAIT) -> None:
        """Reads until every outbound partition is read up to its high watermark now."""
        wanted = {
            TopicPartition(t, p): OffsetSpec.latest() for t in OUTBOUND for p in range(PARTITIONS)
        }
        listed = self.admin.list_offsets(wanted, request_timeout=10)
        ends = {(tp.topic, tp.partition): future.result().offset for tp, future in listed.items()}
        deadline = time.monotonic() + timeout
        while any(self.next_offset.get(tp, 0) < high for tp, high in ends.items()):
            if time.monotonic() > deadline:
                pytest.fail(f"reader: not at the high watermarks {ends} in {timeout} s")
            self.poll(0.1)

    def stream(self, certificate_id: UUID | str) -> list[Received]:
        key = str(certificate_id).encode()
        return [r for r in self.received if r.topic == STREAM and r.key == key]

    def statuses(self, certificate_id: UUID | str) -> list[str]:
        return [r.status for r in self.stream(certificate_id)]

    def dead_letters(self) -> list[Received]:
        return [r for r in self.received if r.topic == DLQ]

    def close(self) -> None:
        self.consumer.close()
        del self.admin  # no close(): its handle goes with the object


# ====================================================================== a deployment


@dataclass(frozen=True)
class Sent:
    """Where an inbound message landed (from its delivery report)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


@dataclass(frozen=True)
class Sale:
    """A certificate sold and issued through the topics."""

    certificate_id: UUID
    number: str
    order_id: str
    payment_id: str
    lines: tuple[GiftCertificateLine, ...]


class Deployment:
    """A mock cluster, `gcp serve` on it, and this process's clients and application."""

    def __init__(self, workdir: Path, database_url: str, *, stock: int = STOCK, **env: str) -> None:
        self.sent: list[Sent] = []
        self.handed_out: set[UUID] = set()
        self.cluster = MockCluster()
        self.service: ServiceProcess | None = None
        self.app: GiftCertificates | None = None
        self.producer: Producer | None = None
        self.reader: Reader | None = None
        try:
            self.cluster.set_group_initial_rebalance_delay(50)  # not the mock's 3 s
            for topic in (*INBOUND, *OUTBOUND):
                self.cluster.create_topic(topic, PARTITIONS)
            bootstrap = self.cluster.bootstrap_servers
            self.env = service_environment(workdir / "var", database_url, bootstrap, **env)
            self.service = ServiceProcess(self.env, workdir, "--stock", str(stock))
            self.service.wait_ready()
            self.app = build_application(Settings.from_env(self.env))
            self.producer = Producer(
                {"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", **FAST_RECONNECT}
            )
            self.reader = Reader(bootstrap)
        except BaseException:
            self.close(check=False)
            raise

    # -- the channel's side

    def reserve(self, order_id: str, count: int = 1) -> list[ReservationGranted]:
        """What GET /certificates/next does (the HTTP API comes in its own issue)."""
        assert self.app is not None
        granted: list[ReservationGranted] = []
        for _ in range(count + STOCK):
            if len(granted) == count:
                break
            reservation = self.app.reservations.reserve_next(
                POOL,
                channel="WEB",
                order_id=order_id,
                cause=Cause("channel:web", unique("req"), order_id),
            )
            # A certificate released earlier (a failed payment, the timer) is back in the pool,
            # with a stream history of its own: keep it reserved, and take a fresh one, so that
            # a test's certificates' streams start with this reservation.
            if reservation.certificate_id not in self.handed_out:
                self.handed_out.add(reservation.certificate_id)
                granted.append(reservation)
        assert len(granted) == count, "the pool ran out of fresh certificates"
        return granted

    def send(self, topic: str, value: InboundMessage | bytes, *, key: str | None = None) -> Sent:
        """Produces one record and waits for its delivery report. A message is encoded, checked
        against the topic's schema and keyed by the contract's key; bytes (what no message can
        hold: not JSON, a field missing) are sent as they are, under `key`."""
        assert self.producer is not None
        if isinstance(value, bytes):
            raw, raw_key = value, None if key is None else key.encode("utf-8")
        else:
            assert topic_of(value) == topic, f"a {type(value).__name__} is not for {topic}"
            raw = encode(value)
            check_schema(topic, json.loads(raw))
            raw_key = key_of(value) if key is None else key.encode("utf-8")
        reports: list[tuple[KafkaError | None, Message]] = []
        self.producer.produce(
            topic,
            value=raw,
            key=raw_key,
            on_delivery=lambda error, message: reports.append((error, message)),
        )
        left = self.producer.flush(WAIT)
        if left or not reports:
            pytest.fail(f"{topic}: no delivery report within {WAIT} s")
        error, message = reports[0]
        if error is not None:
            pytest.fail(f"{topic}: delivery failed: {error}")
        partition, offset = message.partition(), message.offset()
        assert partition is not None
        assert offset is not None
        sent = Sent(topic, partition, offset, message.key(), raw)  # type: ignore[arg-type]
        self.sent.append(sent)
        return sent

    def sell(
        self, amount: str = "5000.00", *, channel: str = "NONE", order_id: str | None = None
    ) -> Sale:
        """Reserves, sends the order and a captured payment, and waits for ISSUED."""
        order_id = order_id or unique("WEB")
        (granted,) = self.reserve(order_id)
        payment_id = unique("PAY")
        lines = (
            build.certificate_line(granted.certificate_id, amount, notification_channel=channel),
        )
        self.send(SALES, build.order(order_id, certificates=lines))
        self.send(PAYMENTS, build.payment(order_id, payment_id, "PAYMENT_CAPTURED", amount))
        self.wait_for_status(granted.certificate_id, "ISSUED")
        return Sale(granted.certificate_id, granted.number, order_id, payment_id, lines)

    # -- waiting

    @property
    def stream(self) -> Reader:
        assert self.reader is not None
        return self.reader

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        """Reads the outbound topics until `condition()` holds; fails after `timeout` with
        what was read and the service's output."""
        assert self.service is not None
        deadline = time.monotonic() + timeout
        while True:
            self.stream.poll(0.05)
            if condition():
                return
            self.service.check_alive()
            if time.monotonic() > deadline:
                pytest.fail(
                    f"waited {timeout} s for {what}; read {len(self.stream.received)} "
                    f"messages, the last: {self.stream.received[-15:]}; {self.service.describe()}"
                )

    def wait_for_status(self, certificate_id: UUID | str, status: str) -> list[Received]:
        self.wait_for(
            lambda: status in self.stream.statuses(certificate_id),
            f"{status} of {certificate_id} (seen: {self.stream.statuses(certificate_id)})",
        )
        return self.stream.stream(certificate_id)

    def consumed(self, topic: str, partition: int) -> int:
        """The last offset of (topic, partition) the service's store says it consumed; -1."""
        assert self.app is not None
        found = self.app.store.inbox.max_tracking_id(inbox_source(topic, partition))
        return -1 if found is None else found

    def relay_position(self) -> int:
        assert self.app is not None
        return self.app.store.inbox.max_tracking_id(POSITION_PREFIX + STREAM) or 0

    def settle(self, timeout: float = WAIT) -> None:
        """Everything sent is consumed, everything stored is published, everything published
        is read: afterwards the reader holds exactly what the service published."""
        assert self.app is not None
        last: dict[tuple[str, int], int] = {}
        for sent in self.sent:
            last[(sent.topic, sent.partition)] = max(
                sent.offset, last.get((sent.topic, sent.partition), -1)
            )

        def behind() -> dict[tuple[str, int], tuple[int, int]]:
            return {
                tp: (self.consumed(*tp), offset)
                for tp, offset in last.items()
                if self.consumed(*tp) < offset
            }

        self.wait_for(lambda: not behind(), f"the service to consume all it was sent: {behind()}")
        target = self.app.store.recorder.max_notification_id() or 0
        self.wait_for(
            lambda: self.relay_position() >= target,
            f"the relay to publish up to position {target} (at {self.relay_position()})",
            timeout,
        )
        self.stream.read_to_end(timeout)

    # -- looking

    def published_statuses(self, certificate_id: UUID | str) -> list[str]:
        """The statuses the certificate's stored events publish, in version order."""
        assert self.app is not None
        certificate: Any = None
        statuses = []
        for event in self.app.store.events.get(UUID(str(certificate_id))):
            certificate = event.mutate(certificate)
            status = certificate_status(certificate, event)
            if status is not None:
                statuses.append(status)
        return statuses

    def check_stream(self, certificate_id: UUID | str, statuses: list[str]) -> list[dict]:
        """The certificate's publications, as read (call `settle` first): these `statuses` in
        this order, each exactly once, versions increasing, headers and key right, every value
        valid against the gift-certificate schema, and one publication per publishing event
        in the store. Returns the values."""
        received = self.stream.stream(certificate_id)
        values = [r.value for r in received]
        event_ids = [v["eventId"] for v in values]
        assert len(set(event_ids)) == len(event_ids), f"duplicates: {received}"
        assert [r.status for r in received] == statuses, f"{certificate_id}: {received}"
        versions = [v["version"] for v in values]
        assert versions == sorted(versions), versions
        assert len(set(versions)) == len(versions), versions
        for item in received:
            check_schema(STREAM, item.value)
            assert item.value["certificateId"] == str(certificate_id)
            assert item.headers == {
                "eventId": item.value["eventId"],
                "status": item.value["status"],
                "schemaVersion": str(item.value["schemaVersion"]),
            }
        assert statuses == self.published_statuses(certificate_id), "the store publishes more"
        return values

    # -- the end

    def close(self, *, check: bool = True) -> None:
        """Stops the service with SIGTERM and, if `check`, asserts it exited cleanly (0, in
        time, having said it was stopping, with no error in its logs)."""
        code: int | None = None
        described = ""
        if self.service is not None:
            code = self.service.stop()
            described = self.service.describe()
        if self.reader is not None:
            self.reader.close()
        if self.producer is not None:
            self.producer.flush(5)
            self.producer.close()
            self.producer = None
            gc.collect()  # a Producer has no close(): its handle goes with the object
        if self.app is not None:
            self.app.close()
        self.cluster.close()
        if check and self.service is not None:
            assert code == 0, f"gcp serve did not exit with 0 within {STOP_TIMEOUT} s: {described}"
            assert any(line.startswith("stopping:") for line in self.service.lines), described
            logs = self.service.log_path.read_text(encoding="utf-8", errors="replace")
            assert " ERROR " not in logs, f"errors in the service's logs: {described}"
            assert "Traceback" not in logs, f"a traceback in the service's logs: {described}"


@contextlib.contextmanager
def deployed(workdir: Path, database_url: str, **env: str) -> Iterator[Deployment]:
    deployment = Deployment(workdir, database_url, **env)
    try:
        yield deployment
    except BaseException:
        deployment.close(check=False)
        raise
    deployment.close()


# ====================================================================== stores


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A store for one module's service: a SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('store') / 'gcp.sqlite'}"
        return
    schema = request.getfixturevalue("postgres_schema")
    with schema() as url:
        yield url


@pytest.fixture(scope="module")
def deployment(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One service for the module's tests (each uses certificates and orders of its own)."""
    with deployed(tmp_path_factory.mktemp("gcp"), store) as running:
        yield running


@pytest.fixture
def deploy(tmp_path: Path) -> Iterator[Callable[..., Deployment]]:
    """Starts a service of the test's own, with extra GCP_* settings; stopped (and checked)
    at the end of the test."""
    stack = contextlib.ExitStack()

    def start(database_url: str | None = None, **env: str) -> Deployment:
        workdir = tmp_path / unique("gcp")
        workdir.mkdir()
        url = database_url or f"sqlite:///{workdir / 'gcp.sqlite'}"
        return stack.enter_context(deployed(workdir, url, **env))

    with stack:
        yield start
