"""(a) naive: one message per get / command / save.

Each message is decoded as the consumer decodes it and handed alone to an `InboundBatches` that
keeps no aggregates between batches (`cache_size=0`): every message reads what it touches from
the store, runs its use cases and saves in a transaction of its own. No Kafka and no relay: this
is the cost of the store round trips the pipeline's batching is there to avoid (leaving the
relay out only flatters the naive rate).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from bench.workload import CLIENTS, PAYMENTS, SALES_ORDER, Record
from gcp_adapters.kafka.decoding import TopicKind, decode, readable_message_id
from gcp_app.application import GiftCertificates
from gcp_app.inbound import Envelope, InboundBatches, Outcome, Problem

KINDS = {
    SALES_ORDER: TopicKind.SALES_ORDER,
    PAYMENTS: TopicKind.PAYMENT,
    CLIENTS: TopicKind.CLIENT,
}


def envelope(record: Record, partition: int, offset: int) -> Envelope:
    """What the inbound consumer makes of a record (gcp_adapters.kafka.consumer)."""
    decoded = decode(KINDS[record.topic], record.key, record.value)
    if isinstance(decoded, Problem):
        return Envelope(
            record.topic,
            partition,
            offset,
            record.key,
            record.value,
            problem=decoded,
            message_id=readable_message_id(record.value),
        )
    return Envelope(record.topic, partition, offset, record.key, record.value, message=decoded)


def run(app: GiftCertificates, records: Sequence[Record]) -> dict[str, Any]:
    matcher = InboundBatches(app, cache_size=0)
    offsets = dict.fromkeys(KINDS, -1)
    outcomes = dict.fromkeys(Outcome, 0)
    before = app.store.recorder.max_notification_id() or 0
    started = time.monotonic()
    for record in records:
        offsets[record.topic] += 1
        handled = matcher.handle([envelope(record, 0, offsets[record.topic])])
        for item in handled:
            outcomes[item.outcome] += 1
    elapsed = time.monotonic() - started
    from bench.store import count_events  # noqa: PLC0415 - keeps this module's imports light

    return {
        "naive_messages": len(records),
        "naive_elapsed_s": elapsed,
        "naive_msgs_per_s": len(records) / elapsed,
        "naive_events_stored": count_events(app, before),
        "naive_applied": outcomes[Outcome.APPLIED],
        "naive_duplicates": outcomes[Outcome.DUPLICATE],
        "naive_ignored": outcomes[Outcome.IGNORED],
        "naive_dead_letters": outcomes[Outcome.DEAD_LETTERED],
    }
