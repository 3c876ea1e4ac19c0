"""(h) soak: `gcp serve`'s resident memory over a long run, and whether it levels off.

A broker in a process of its own and `gcp serve` (every part) on PostgreSQL, as in (f); the
bench process feeds the realistic mix of bench.workload (issues with their payments and
notification results, partial and full redemptions, refunds, duplicates, bad and ignored
messages) at the rate `gcp serve` takes it: never more than LEAD messages ahead of the offsets
its consumer has committed (the mock cluster keeps ~14k messages a partition). An operation is
one inbound message handled. `gcp serve`'s RSS is sampled every second: `serve_max_rss_mb`, and
the largest sample in each quarter of the run, which show whether it levels off.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Final

from confluent_kafka import Consumer, Producer, TopicPartition

from bench import store, workload
from bench.e2e import ServiceProcesses
from gcp_app.application import GiftCertificates

SCHEMA: Final = "soak"
LEAD: Final = 10_000
LAG: Final = 25_000
STALL_SECONDS: Final = 120.0
GROUP: Final = "gcp"  # GCP_KAFKA_GROUP_ID's default, which the service runs with


class SoakFailed(Exception):
    pass


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Sampler:
    """RSS of a process every second, with how many operations were handled by then."""

    def __init__(self, pid: int, handled: list[int]) -> None:
        self.samples: list[tuple[int, float]] = []
        self._pid = pid
        self._handled = handled
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-soak-rss", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.samples.append((self._handled[0], rss_mb(self._pid)))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


class _Committed:
    """The offsets the service's consumer group has committed on the inbound topics, summed."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": GROUP, "enable.auto.commit": False}
        )
        self._partitions: list[TopicPartition] = []
        for topic in workload.INBOUND:
            metadata = self._consumer.list_topics(topic, timeout=10).topics[topic]
            self._partitions += [TopicPartition(topic, p) for p in metadata.partitions]

    def total(self) -> int:
        committed = self._consumer.committed(self._partitions, timeout=10)
        return sum(max(tp.offset, 0) for tp in committed)

    def close(self) -> None:
        self._consumer.close()


def _feed(
    producer: Producer, records: list[workload.Record], committed: _Committed, handled: list[int]
) -> None:
    """Produces every record, at most LEAD ahead of what was committed; then waits for all."""
    last, progress_at = -1, time.monotonic()

    def wait_until(produced: int) -> None:
        nonlocal last, progress_at
        while produced - handled[0] > 0:
            producer.poll(0.05)
            handled[0] = committed.total()
            if handled[0] != last:
                last, progress_at = handled[0], time.monotonic()
            elif time.monotonic() - progress_at > STALL_SECONDS:
                raise SoakFailed(f"the service stalled at {handled[0]} of {len(records)}")

    for produced, record in enumerate(records):
        if produced - handled[0] >= LEAD:
            wait_until(produced - LEAD // 2)
        workload.produce(producer, record, every=1000, produced=produced)
    if producer.flush(60) > 0:
        raise SoakFailed("the producer could not deliver every record")
    wait_until(len(records))


def run(
    app: GiftCertificates,
    database: str,
    var_dir: Path,
    key: str,
    log_path: Path,
    *,
    operations: int,
) -> dict[str, Any]:
    lead = min(LEAD, max(operations // 10, 1000))
    lag = max(LAG * lead // LEAD, lead * 2)
    certificates = store.reserved_certificates(app, workload.certificates_needed(operations))
    records = workload.generate(
        certificates, operations, lag=lag, notification_ids=app.notification_ids
    )
    handled = [0]
    with log_path.open("ab") as log:
        service = ServiceProcesses(database, var_dir, key, log, schema=SCHEMA)
        started_rss = rss_mb(service.serve.pid)
        producer = Producer({"bootstrap.servers": service.bootstrap, "linger.ms": 5})
        committed = _Committed(service.bootstrap)
        sampler = _Sampler(service.serve.pid, handled)
        started = time.monotonic()
        try:
            _feed(producer, records, committed, handled)
            elapsed = time.monotonic() - started
        finally:
            sampler.close()
            committed.close()
            service.close()
    samples = sampler.samples or [(0, started_rss)]
    quarters = {
        f"serve_rss_q{q}_mb": max(
            (rss for done, rss in samples if done <= len(records) * q / 4), default=started_rss
        )
        for q in (1, 2, 3, 4)
    }
    return {
        "soak_operations": len(records),
        "soak_elapsed_s": elapsed,
        "soak_per_s": len(records) / elapsed,
        "serve_start_rss_mb": started_rss,
        "serve_max_rss_mb": max(rss for _, rss in samples),
        **quarters,
    }
