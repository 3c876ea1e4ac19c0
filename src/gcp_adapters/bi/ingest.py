"""The BI consumer: the four topics, polled in batches and landed (gcp_adapters.bi.landing).

Its own consumer group (`<GCP_KAFKA_GROUP_ID>-bi`), but no group management: it ASSIGNS every
partition of the four topics itself, each at the offset after the last one landed (the landing
file is the truth), or at the beginning when none was. Kafka's committed offsets are written
after each landing for lag dashboards only, never read.

`catch_up()` lands until every partition is at its high watermark and the watermarks stay put
(`gcp bi build`); `land_for()` lands for a while or until stopped (`gcp bi run`).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

import confluent_kafka.admin as kafka_admin
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from gcp_adapters.bi.landing import Batch, Landing
from gcp_adapters.kafka.client_logs import LIBRDKAFKA

# confluent_kafka.admin's OffsetSpec: untyped, and not re-exported as far as mypy can tell.
_OFFSET_SPEC: Any = vars(kafka_admin)["OffsetSpec"]

logger = logging.getLogger("gcp.bi.ingest")

# A batch is one transaction, and a commit costs DuckDB about 50 ms (its write-ahead log is
# synced): 20,000 messages a batch keep that under a tenth of the time (docs/bi.md).
BATCH_SIZE: Final = 20_000
POLL_SECONDS: Final = 0.5
METADATA_SECONDS: Final = 10.0
STALL_SECONDS: Final = 60.0


class IngestStalled(RuntimeError):
    """The topics are not idle, yet nothing arrives: the broker went away."""


def _headers(message: Message) -> str | None:
    headers = message.headers()
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, dict) else headers
    return json.dumps({name: _text(raw) for name, raw in pairs})


def _text(raw: str | bytes | None) -> str | None:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


class Ingest:
    """One consumer of `topics` landing into `landing`. Not thread-safe."""

    def __init__(
        self,
        bootstrap_servers: str,
        topics: Sequence[str],
        group_id: str,
        landing: Landing,
        *,
        batch_size: int = BATCH_SIZE,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.topics = tuple(topics)
        self.landing = landing
        self.batch_size = batch_size
        self.landed = 0
        self._assigned: set[tuple[str, int]] = set()
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": False,
                "logger": LIBRDKAFKA,  # JSON, each complaint once a minute, as the service's
                **(config or {}),
            }
        )
        admin: dict[str, Any] = {"bootstrap.servers": bootstrap_servers, "logger": LIBRDKAFKA}
        self._admin = AdminClient({**admin, **(config or {})})

    def close(self) -> None:
        self._consumer.close()

    # ------------------------------------------------------------------ partitions

    def assign_new_partitions(self) -> int:
        """Assigns the partitions of the four topics not assigned yet (a topic created late, a
        partition added), each at its landed offset + 1; returns how many were added."""
        metadata = self._consumer.list_topics(timeout=METADATA_SECONDS)
        landed = self.landing.offsets()
        new = []
        for topic in self.topics:
            found = metadata.topics.get(topic)
            if found is None or found.error is not None:
                continue
            for partition in found.partitions:
                if (topic, partition) in self._assigned:
                    continue
                after = landed.get((topic, partition))
                start = OFFSET_BEGINNING if after is None else after + 1
                new.append(TopicPartition(topic, partition, start))
                self._assigned.add((topic, partition))
        if new:
            self._consumer.incremental_assign(new)
        return len(new)

    # ------------------------------------------------------------------ landing

    def poll_batch(self, timeout: float = POLL_SECONDS) -> Batch:
        """Up to a batch of messages, whatever arrives within `timeout`."""
        batch = Batch()
        append = batch.append
        deadline = time.monotonic() + timeout
        while len(batch) < self.batch_size:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            messages = self._consumer.consume(self.batch_size - len(batch), left)
            if not messages:
                break
            for message in messages:
                if message.error() is not None:
                    logger.warning("bi: consumer error %s", message.error())
                    continue
                append(
                    message.topic() or "",
                    message.partition() or 0,
                    message.offset() or 0,
                    message.key(),
                    message.value(),
                    _headers(message),
                    message.timestamp()[1],
                )
        return batch

    def land_batch(self, batch: Batch) -> int:
        """Lands a polled batch (one transaction); returns how many were new."""
        if not len(batch):
            return 0
        count = self.landing.land(batch)
        self.landed += count
        self._commit_hint(batch)
        return count

    def land_once(self, timeout: float = POLL_SECONDS) -> int:
        """Polls up to a batch and lands it; returns how many were landed."""
        return self.land_batch(self.poll_batch(timeout))

    def land_while(self, going: Callable[[], bool]) -> int:
        """Lands while `going()`, polling the next batch on a thread of its own while this one
        lands the last (DuckDB and librdkafka both work without the GIL): about half again the
        rate of polling and landing in turn. Nothing polled is dropped: when `going()` turns
        false the batch in flight is landed too."""
        batches: queue.Queue[Batch | None] = queue.Queue(maxsize=1)
        polling = threading.Event()
        polling.set()

        def poll() -> None:
            try:
                while polling.is_set():
                    batches.put(self.poll_batch())
            finally:
                batches.put(None)

        poller = threading.Thread(target=poll, name="gcp-bi-poll", daemon=True)
        poller.start()
        landed = 0
        try:
            while going():
                batch = batches.get()
                if batch is None:
                    break
                landed += self.land_batch(batch)
        finally:
            polling.clear()
            while (batch := batches.get()) is not None:
                landed += self.land_batch(batch)
            poller.join()
        return landed

    def _commit_hint(self, batch: Batch) -> None:
        """Kafka's committed offsets, for lag dashboards; resuming never reads them."""
        last: dict[tuple[str, int], int] = {}
        for topic, partition, offset in zip(
            batch.topic, batch.partition, batch.offset, strict=True
        ):
            last[(topic, partition)] = max(offset, last.get((topic, partition), -1))
        try:
            self._consumer.commit(
                offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()],
                asynchronous=True,
            )
        except KafkaException as error:  # pragma: no cover - only a hint
            logger.debug("bi: offset commit hint failed: %s", error)

    def land_for(self, seconds: float, stop: threading.Event) -> int:
        """Lands whatever arrives for `seconds` or until `stop` is set."""
        self.assign_new_partitions()
        deadline = time.monotonic() + seconds
        return self.land_while(lambda: not stop.is_set() and time.monotonic() < deadline)

    def catch_up(self, stop: threading.Event | None = None) -> int:
        """Lands until every partition is at its high watermark and the watermarks did not move
        while it did; returns how many it landed. IngestStalled if nothing comes for a minute
        while some partition is behind."""
        stop = stop or threading.Event()
        landed = 0
        while not stop.is_set():
            self.assign_new_partitions()
            targets = self._high_watermarks()
            landed += self._reach(targets, stop)
            if self._high_watermarks() == targets and not self.assign_new_partitions():
                break
        return landed

    def _reach(self, targets: dict[tuple[str, int], int], stop: threading.Event) -> int:
        progress = [time.monotonic(), self.landed]

        def going() -> bool:
            if stop.is_set() or not self._behind(targets):
                return False
            if self.landed != progress[1]:
                progress[:] = [time.monotonic(), self.landed]
            elif time.monotonic() - progress[0] > STALL_SECONDS:
                raise IngestStalled(f"no message for {STALL_SECONDS:.0f} s while behind")
            return True

        return self.land_while(going)

    def _high_watermarks(self) -> dict[tuple[str, int], int]:
        """The end of every assigned partition, asked of the brokers in one request."""
        if not self._assigned:
            return {}
        latest = _OFFSET_SPEC.latest()
        asked = {TopicPartition(t, p): latest for t, p in sorted(self._assigned)}
        futures = self._admin.list_offsets(asked, request_timeout=METADATA_SECONDS)
        return {
            (tp.topic, tp.partition): future.result(METADATA_SECONDS).offset
            for tp, future in futures.items()
        }

    def _behind(self, targets: dict[tuple[str, int], int]) -> bool:
        landed = self.landing.offsets()
        behind = [key for key, high in targets.items() if landed.get(key, -1) + 1 < high]
        if not behind:
            return False
        # Transaction markers and compacted gaps hold offsets no message has: the consumer's
        # position (the next offset it will fetch) is past them.
        positions = self._consumer.position([TopicPartition(t, p) for t, p in behind])
        return any(tp.offset < targets[(tp.topic, tp.partition)] for tp in positions)
