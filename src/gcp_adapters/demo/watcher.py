"""The demo's view of what the service publishes: GiftCertificates.Stream and the DLQ, read from
where they end when the demo starts, so only this run's publications appear."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from gcp_adapters.demo.console import DemoFailed, say


class StreamWatcher:
    """Reads the stream (and the DLQ) from where they end now; prints this run's publications."""

    def __init__(self, bootstrap: str, stream: str, dlq: str, timeout: float) -> None:
        self.stream_topic, self.dlq_topic, self.timeout = stream, dlq, timeout
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"gcp-demo-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "auto.offset.reset": "latest",
            }
        )
        # Explicit end offsets (not OFFSET_END, resolved lazily): nothing published after this
        # constructor returns can be missed.
        assigned = []
        for topic in (stream, dlq):
            metadata = self.consumer.list_topics(topic, timeout=10).topics[topic]
            if metadata.error is not None or not metadata.partitions:
                raise DemoFailed(f"the broker has no topic {topic}: {metadata.error}")
            for partition in metadata.partitions:
                _, high = self.consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=10
                )
                assigned.append(TopicPartition(topic, partition, high))
        self.consumer.assign(assigned)
        self.tracked: set[str] = set()
        self.by_key: dict[str, list[dict[str, Any]]] = {}
        self.matched: dict[str, int] = {}
        self.seen_events: set[str] = set()
        self.statuses: Counter[str] = Counter()
        self.dead_letters: list[dict[str, Any]] = []

    def track(self, key: str) -> None:
        """Prints `key`'s publications from now on (and those already read)."""
        if key in self.tracked:
            return
        self.tracked.add(key)
        previous = None
        for value in self.by_key.get(key, []):
            print_publication(value, previous)
            previous = value

    def poll(self, timeout: float = 0.2) -> None:
        for message in self.consumer.consume(num_messages=500, timeout=timeout):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise DemoFailed(f"reading the stream: {error}")
            raw, key = message.value(), message.key()
            if not isinstance(raw, bytes):
                continue
            value = json.loads(raw.decode("utf-8"))
            if message.topic() == self.dlq_topic:
                self.dead_letters.append(value)
                say(f"    !! dead letter: {value.get('reasonCode')}: {value.get('reason')}")
                continue
            if value.get("eventId") in self.seen_events:
                continue  # at-least-once: a redelivery
            self.seen_events.add(value.get("eventId", ""))
            self.statuses[str(value.get("status"))] += 1
            name = key.decode("utf-8") if isinstance(key, bytes) else ""
            earlier = self.by_key.setdefault(name, [])
            previous = earlier[-1] if earlier else None
            earlier.append(value)
            if name in self.tracked:
                print_publication(value, previous)

    def wait_for(self, key: str, status: str) -> dict[str, Any]:
        """The next publication for `key` with `status` (after those already waited for)."""
        self.track(key)
        deadline = time.monotonic() + self.timeout
        while True:
            found = self.by_key.get(key, [])
            for index in range(self.matched.get(key, 0), len(found)):
                if found[index].get("status") == status:
                    self.matched[key] = index + 1
                    return found[index]
            if time.monotonic() > deadline:
                seen = [v.get("status") for v in found]
                raise DemoFailed(f"no {status} for {key} within {self.timeout} s (seen: {seen})")
            self.poll()

    def close(self) -> None:
        self.consumer.close()


def print_publication(value: dict[str, Any], previous: dict[str, Any] | None = None) -> None:
    """One line per publication; `previous`, the one before it for the same key, shows the
    versions between them that the stream does not publish."""
    status = value.get("status")
    if status == "ISSUE_BLOCKED":
        say(f"    <- stream: {status:<22} pool {value.get('pool')}: {value.get('reason')}")
        return
    if status == "POOL_LOW":
        say(
            f"    <- stream: {status:<22} pool {value.get('pool')}: {value.get('available')} "
            f"available, below its low watermark of {value.get('lowWatermark')}"
        )
        return
    parts = [f"state {value.get('state')}"]
    if value.get("remainingBalance") is not None:
        parts.append(f"balance {value['remainingBalance']} {value.get('currency')}")
    notification = value.get("notification")
    if status in ("NOTIFICATION_REQUESTED", "NOTIFICATION_SENT") and notification:
        parts.append(f"notification {notification['status']} by {notification['channel']}")
    operation = value.get("operation")
    if operation:
        parts.append(f"operation {operation.get('type')} {operation.get('amount')}")
    refund = value.get("refund")
    if refund:
        parts.append(f"refund {refund.get('status')}")
    if value.get("lock"):
        parts.append(f"locked: {value['lock'].get('reason')}")
    if value.get("reason") and status != "LOCKED":
        parts.append(f"reason {value['reason']}")
    masked = value.get("maskedNumber") or "?"
    version = int(value.get("version") or 0)
    say(
        f"    <- stream: {status:<22} {masked} v{version}: {', '.join(parts)}"
        f"{_unpublished_before(version, previous)}"
    )


def _unpublished_before(version: int, previous: dict[str, Any] | None) -> str:
    """Why a version was skipped: the certificate changed in a way the stream does not publish
    (its creation in the pool, the CVC handed out to CRM)."""
    skipped = version - 1 - int(previous.get("version") or 0) if previous else 0
    if skipped <= 0:
        return ""
    changes = "change" if skipped == 1 else "changes"
    return f" (after {skipped} unpublished {changes}, such as the CVC handed out)"
