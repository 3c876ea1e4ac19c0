"""(f) end to end: from a payment produced on All_Payments until its publication is read from
GiftCertificates.Stream, through a broker in a process of its own and a running `gcp serve`.

The broker is the embedded one (librdkafka's mock cluster) started by `python -m bench.broker`
in its own process, 4 partitions a topic; `gcp serve` runs on the run's PostgreSQL database,
configured by environment as an operator would, as two processes: the relay in one of its own,
the other parts in the other (docs/operations.md, for rates like these). The bench process reserves
certificates through the application (as the channels do) and then, at a steady rate, sends
half issues (the web order and its captured card payment) and half redemptions of 1.00 (the
POS order and its REDEMPTION payment) of certificates issued in a warm-up. A reader follows the
stream; each operation's latency is from its payment's produce call to the ISSUED or
PARTIALLY_REDEEMED that names its certificate (and, for a redemption, its paymentId).

Each latency is also split in three stages by the clocks the messages carry (one host, one
wall clock): to the change's `occurredAt` (delivery to the consumer, its batch window and the
matching, up to the moment the change was made), from there to the stream message's timestamp
(the rest of the batch, its commit, the relay's wake-up, read and produce call), and from there
to the reader (the brokers' acknowledgement and the reader's fetch). `occurredAt` has whole
milliseconds, so each stage is within a millisecond.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Final

from confluent_kafka import Consumer, Producer, TopicPartition

from bench import store
from bench.http import percentile
from bench.workload import Reserved
from gcp_adapters.kafka.encoding import encode, key_of, topic_of
from gcp_app.application import GiftCertificates
from gcp_app.inbound import builders as build
from gcp_app.inbound.messages import InboundMessage

STREAM: Final = "GiftCertificates.Stream"
SCHEMA: Final = "e2e"
AMOUNT: Final = "5000.00"
TAKEN: Final = "1.00"
READY_SECONDS: Final = 120.0
SETTLE_SECONDS: Final = 30.0


class EndToEndFailed(Exception):
    pass


class ServiceProcesses:
    """The broker process and `gcp serve`, started and stopped together."""

    def __init__(
        self,
        database: str,
        var_dir: Path,
        key: str,
        log: IO[bytes],
        *,
        schema: str = SCHEMA,
        relay_apart: bool = False,
    ) -> None:
        self._log = log
        self.broker = subprocess.Popen(
            [sys.executable, "-m", "bench.broker"], stdout=subprocess.PIPE, stderr=log, text=True
        )
        assert self.broker.stdout is not None
        self.bootstrap = self.broker.stdout.readline().strip()
        if not self.bootstrap:
            raise EndToEndFailed("the broker process printed no address")
        env = {
            **os.environ,
            "GCP_DATABASE_URL": f"{database}?schema={schema}",
            "GCP_VAR_DIR": str(var_dir),
            "GCP_CIPHER_KEY": key,
            "GCP_JWT_SECRET": "e2e-bench-secret-0123456789abcdefghijklmnopqrstuvwxyz",
            "GCP_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "GCP_HTTP_PORT": "0",
        }
        # With `relay_apart`, the relay runs in a process of its own beside the other parts
        # (docs/operations.md: at such rates one process's GIL is the limit), started once the
        # first is ready.
        parts = ("--only", "http", "--only", "consumers", "--only", "timers")
        execed = time.monotonic()
        self.serve = self._start(env, parts if relay_apart else ())
        self.relay: subprocess.Popen[str] | None = None
        try:  # a process that fails to start stops the others: none is left behind
            self.ready_after = self._ready(self.serve, execed)  # from exec to ready
            if relay_apart:
                self.relay = self._start(env, ("--only", "relay"))
                self._ready(self.relay, time.monotonic())
        except BaseException:
            self.close()
            raise

    def _start(self, env: dict[str, str], parts: tuple[str, ...]) -> subprocess.Popen[str]:
        return subprocess.Popen(  # noqa: S603 (this module's own arguments)
            [sys.executable, "-m", "gcp_adapters.cli.main", "serve", *parts],
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )

    @staticmethod
    def _ready(process: subprocess.Popen[str], since: float) -> float:
        """Seconds from `since` until `process` said it is ready."""
        assert process.stdout is not None
        deadline = time.monotonic() + READY_SECONDS
        for line in process.stdout:
            if line.startswith("ready:"):
                return time.monotonic() - since
            if time.monotonic() > deadline:
                raise EndToEndFailed("gcp serve was not ready in time")
        raise EndToEndFailed("gcp serve ended before it was ready")

    def close(self) -> None:
        for process in (self.serve, self.relay, self.broker):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()


class _Stream:
    """Reads the stream from its end; says when each awaited publication arrives."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "bench-e2e", "fetch.wait.max.ms": 5}
        )
        metadata = self._consumer.list_topics(STREAM, timeout=10).topics[STREAM]
        ends = []
        for partition in metadata.partitions:
            _, high = self._consumer.get_watermark_offsets(TopicPartition(STREAM, partition), 10)
            ends.append(TopicPartition(STREAM, partition, high))
        self._consumer.assign(ends)
        self.arrived: dict[tuple[str, str, str], float] = {}
        # By the same keys: (the change's occurredAt, the stream message's timestamp, arrival),
        # wall-clock seconds.
        self.clocks: dict[tuple[str, str, str], tuple[float, float, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="bench-e2e-stream", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            # One message a poll: librdkafka's consume(n, timeout) waits until it has n or the
            # time is up, which would add up to that timeout to each latency measured here.
            message = self._consumer.poll(0.05)
            if message is None or message.error() is not None:
                continue
            now, wall = time.monotonic(), time.time()
            value = json.loads(message.value() or b"{}")
            operation = value.get("operation") or {}
            certificate, status = str(value.get("certificateId")), str(value.get("status"))
            occurred = datetime.fromisoformat(str(value.get("occurredAt"))).timestamp()
            clocks = (occurred, message.timestamp()[1] / 1000, wall)
            # By certificate and status, and by its payment too (a redemption's).
            keys = [(certificate, status, "")]
            payment_id = operation.get("paymentId")
            if payment_id:
                keys.append((certificate, status, str(payment_id)))
            for key in keys:
                self.arrived.setdefault(key, now)
                self.clocks.setdefault(key, clocks)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()


_Encoded = tuple[str, bytes, bytes]  # topic, key, value


def _encoded(*messages: InboundMessage) -> list[_Encoded]:
    return [(topic_of(m), key_of(m), encode(m)) for m in messages]


def _issue(index: int, certificate: Reserved) -> tuple[list[_Encoded], str]:
    """The sale of `certificate` (the order its reservation named), and its paymentId."""
    order_id = f"WEB-{index:07d}"
    line = build.certificate_line(certificate.certificate_id, AMOUNT)
    payment_id = f"PAY-{index:07d}"
    return _encoded(
        build.order(order_id, certificates=[line], store_id="WEB-001"),
        build.payment(order_id, payment_id, "PAYMENT_CAPTURED", AMOUNT),
    ), payment_id


def _redeem(name: str, certificate: Reserved) -> tuple[list[_Encoded], str]:
    """1.00 taken from `certificate` at the till (the POS order, then its payment)."""
    order_id = f"POS-E2E-{name}"
    used = build.redemption_line(certificate.number, TAKEN)
    payment_id = f"R{order_id}"
    return _encoded(
        build.order(order_id, redemptions=[used], channel="POS", customer=None),
        build.redemption_payment(order_id, payment_id, certificate.number, TAKEN),
    ), payment_id


def _phase(
    producer: Producer,
    stream: _Stream,
    rate: int,
    seconds: float,
    fresh: list[tuple[int, Reserved]],
    issued: list[Reserved],
) -> dict[str, float]:
    """`rate` operations a second for `seconds`, issues and redemptions alternating."""
    count = int(rate * seconds)
    # Built and encoded before the clock starts: the pace is the broker's and the service's.
    operations: list[tuple[list[_Encoded], tuple[str, str, str]]] = []
    for n in range(count):
        if n % 2 == 0:
            index, certificate = fresh.pop()
            messages, payment_id = _issue(index, certificate)
            key = (str(certificate.certificate_id), "ISSUED", "")
        else:
            certificate = issued[n // 2 % len(issued)]
            messages, payment_id = _redeem(f"{rate}-{n}", certificate)
            key = (str(certificate.certificate_id), "PARTIALLY_REDEEMED", payment_id)
        operations.append((messages, key))
    expected: list[tuple[tuple[str, str, str], float, float]] = []
    started = time.monotonic()
    for n, (messages, key) in enumerate(operations):
        pause = started + n / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        for topic, message_key, value in messages:
            producer.produce(topic, key=message_key, value=value)
        # the payment is the last one produced
        expected.append((key, time.monotonic(), time.time()))
        producer.poll(0)
    producer.flush(30)
    deadline = time.monotonic() + SETTLE_SECONDS
    while any(key not in stream.arrived for key, _, _ in expected):
        if time.monotonic() > deadline:
            missing = sum(key not in stream.arrived for key, _, _ in expected)
            raise EndToEndFailed(f"{missing} of {count} publications did not arrive at {rate}/s")
        time.sleep(0.05)
    latencies = sorted((stream.arrived[key] - sent) * 1000 for key, sent, _ in expected)
    figures = {
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
        "operations": float(count),
        "achieved_per_s": count / (time.monotonic() - started),
    }
    stages: dict[str, list[float]] = {"made": [], "relayed": [], "delivered": []}
    for key, _, sent_wall in expected:
        occurred, produced, arrived = stream.clocks[key]
        stages["made"].append((occurred - sent_wall) * 1000)
        stages["relayed"].append((produced - occurred) * 1000)
        stages["delivered"].append((arrived - produced) * 1000)
    for stage, values in stages.items():
        values.sort()
        figures[f"{stage}_p50_ms"] = percentile(values, 0.50)
        figures[f"{stage}_p99_ms"] = percentile(values, 0.99)
    return figures


def run(
    app: GiftCertificates,
    database: str,
    var_dir: Path,
    key: str,
    log_path: Path,
    *,
    phases: tuple[tuple[int, float], ...] = ((200, 15.0), (1000, 10.0)),
    relay_apart: bool = False,
) -> dict[str, Any]:
    """The figures of each (rate, seconds) phase, after a warm-up that issues the certificates
    the redemptions take from."""
    redemptions = max(int(rate * seconds) // 2 for rate, seconds in phases)
    issues = sum(int(rate * seconds) // 2 + 1 for rate, seconds in phases)
    reserved = store.reserved_certificates(app, redemptions + issues)
    fresh = list(enumerate(reserved))
    fresh.reverse()  # popped from the end: in reservation order
    with log_path.open("ab") as log:
        service = ServiceProcesses(database, var_dir, key, log, relay_apart=relay_apart)
        stream = _Stream(service.bootstrap)
        producer = Producer(
            {"bootstrap.servers": service.bootstrap, "linger.ms": 0, "partitioner": "murmur2"}
        )
        try:
            warm = [fresh.pop() for _ in range(redemptions)]
            for index, certificate in warm:
                for topic, message_key, value in _issue(index, certificate)[0]:
                    producer.produce(topic, key=message_key, value=value)
                producer.poll(0)
            producer.flush(60)
            deadline = time.monotonic() + 120
            while any((str(c.certificate_id), "ISSUED", "") not in stream.arrived for _, c in warm):
                if time.monotonic() > deadline:
                    seen = sorted({status for _, status, _ in stream.arrived})
                    raise EndToEndFailed(
                        f"the warm-up's certificates were not issued in time (the stream "
                        f"brought {len(stream.arrived)} publications: {seen})"
                    )
                time.sleep(0.1)
            issued = [certificate for _, certificate in warm]
            figures: dict[str, Any] = {}
            for rate, seconds in phases:
                found = _phase(producer, stream, rate, seconds, fresh, issued)
                for name, figure in found.items():
                    figures[f"e2e_{rate}_{name}"] = figure
        finally:
            producer.close()
            stream.close()
            service.close()
    figures["e2e_relay_apart"] = relay_apart
    figures["e2e_p50_ms"] = figures.get("e2e_200_p50_ms")
    figures["e2e_p99_ms"] = figures.get("e2e_200_p99_ms")
    return figures
