"""The inbound Kafka adapter: it polls the three inbound topics, hands each batch over to the
inbound matching (gcp_app.inbound) and commits Kafka's offsets once the batch is stored.

One confluent-kafka consumer in one group reads All_SalesOrder, All_Payments and All_Clients
(names configurable). Each poll is one batch: every record is decoded (a record that cannot be
decoded travels on with its `Problem` and becomes a dead letter) and handed over; the
application stores its effects and its consumed positions in ONE database transaction. Only then
are the offsets committed to Kafka, asynchronously. `run` pipelines the batches
(gcp_app.inbound.pipeline: one is stored while the next is decided; docs/kafka.md, "Pipelined
batches"); `run_once` handles one batch synchronously.

The database is the truth about what was consumed: on every assignment the consumer seeks each
partition to the position the database recorded (+1), or to the beginning when it recorded none,
whatever Kafka's committed offsets say. They are a hint for tools (lag dashboards), nothing more:
a crash between the database commit and the Kafka commit re-reads a few records, which the
matcher recognises by their positions and applies nothing twice.

Never logged: message values or keys (personal data, and large). Logged: topic, partition,
offset, messageId and reason codes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from gcp_adapters.closing import ClosedOnExit
from gcp_adapters.kafka.batch_window import gather
from gcp_adapters.kafka.client_logs import LIBRDKAFKA
from gcp_adapters.kafka.consumer_metrics import ConsumerMetrics, Partition
from gcp_adapters.kafka.decoding import InboundTopics, decode, readable_message_id
from gcp_adapters.logs import quiet_logger
from gcp_app.inbound import (
    Envelope,
    Handled,
    InboundBatches,
    InboundPipeline,
    Outcome,
    Problem,
)

if TYPE_CHECKING:
    from gcp_app.application import GiftCertificates

logger = logging.getLogger("gcp.kafka.consumer")
# A batch that keeps failing (the store away) is said once a minute, not at every retry.
failures = quiet_logger("gcp.kafka.consumer.failures")

# A batch is one transaction: larger batches mean fewer round trips and commits per message.
# Latency stays bounded: a poll returns what arrived within DEFAULT_BATCH_TIMEOUT, and a full
# batch of 2,000 takes well under a second to apply (docs/performance.md). When a batch closes
# before it is full: gcp_adapters.kafka.batch_window.
DEFAULT_BATCH_SIZE: Final = 2000
DEFAULT_BATCH_TIMEOUT: Final = 0.2
# How long a broker holds a fetch that finds nothing new (librdkafka's default, 500 ms, is
# paid by every message that arrives while a fetch waits): latency for a few more requests.
FETCH_WAIT_MS: Final = 10
QUEUED_KBYTES: Final = 16_384
RETRY_BACKOFF: Final = 0.5
MAX_RETRY_BACKOFF: Final = 10.0
# Readiness fails when batches have kept failing this long.
STALL_AFTER: Final = 30.0
# ... and when the consumer has had no partition this long: a restarted member waits for the
# group to rebalance (about the session timeout), a broker that does not answer never assigns.
ASSIGNMENT_GRACE: Final = 15.0


class InboundConsumer(ClosedOnExit):
    """Consumes the inbound topics into `app`, exactly-once in effect.

    `run_once()` handles one poll; `run(stop)` loops until `stop` is set and never gives up on a
    batch: a failure (the database away, say) is logged and the same batch is retried after a
    backoff. `close()` leaves the group. Not thread-safe: one thread drives one consumer.
    """

    def __init__(
        self,
        app: GiftCertificates,
        bootstrap_servers: str,
        *,
        topics: InboundTopics | None = None,
        group_id: str = "gcp",
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_timeout: float = DEFAULT_BATCH_TIMEOUT,
        retry_backoff: float = RETRY_BACKOFF,
        max_retry_backoff: float = MAX_RETRY_BACKOFF,
        assignment_grace: float = ASSIGNMENT_GRACE,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if batch_timeout < 0 or retry_backoff <= 0 or max_retry_backoff < retry_backoff:
            raise ValueError("timeouts and backoffs must be positive")
        self.app = app
        self.topics = topics or InboundTopics()
        self.batch_size = batch_size
        self.batch_timeout = batch_timeout
        self.retry_backoff = retry_backoff
        self.max_retry_backoff = max_retry_backoff
        self.metrics = ConsumerMetrics()
        self._pipeline = InboundPipeline(InboundBatches(app), self)
        self._stored_records = 0  # records of the batches stored so far
        self._resubscribe = False
        self._closed = False
        self._failing_since: float | None = None  # monotonic time of the first failed batch
        self.assignment_grace = assignment_grace
        # Monotonic time since when no partition is assigned (None while some are).
        self._unassigned_since: float | None = time.monotonic()
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": group_id,
                "client.id": "gcp-inbound",
                # Positions live in the database; Kafka's offsets are committed by hand after
                # each database commit, as a hint for tools.
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": FETCH_WAIT_MS,
                # What librdkafka fetches ahead of the batches: 16 MB, not its 64 MB, so that a
                # backlog does not fill the process's memory (a batch is 2,000 messages).
                "queued.max.messages.kbytes": QUEUED_KBYTES,
                "on_commit": self._on_commit,
                "error_cb": self._on_error,
                "logger": LIBRDKAFKA,
                **(config or {}),
            }
        )
        self._subscribe()

    @classmethod
    def from_settings(
        cls, app: GiftCertificates, bootstrap_servers: str, **kwargs: Any
    ) -> InboundConsumer:
        """With the topic names and group of `app.settings` (GCP_TOPIC_*, GCP_KAFKA_GROUP_ID)."""
        settings = app.settings
        topics = InboundTopics(
            sales_order=settings.topic_sales_order,
            payments=settings.topic_payments,
            clients=settings.topic_clients,
        )
        kwargs.setdefault("group_id", settings.kafka_group_id)
        return cls(app, bootstrap_servers, topics=topics, **kwargs)

    # ------------------------------------------------------------------ the loop

    def run(self, stop: threading.Event) -> None:
        """Consumes until `stop` is set, pipelined (`run_pipelined_once`). Bad input never stops
        it (it is dead-lettered); a failing batch is retried, with a growing backoff, until it
        goes through. On the way out the batch in flight is stored (or left to be read again)."""
        backoff = self.retry_backoff
        try:
            while not stop.is_set():
                try:
                    self.run_pipelined_once()
                except Exception as error:  # logged, and the batch is retried
                    if self._failing_since is None:
                        self._failing_since = time.monotonic()
                    self.metrics.record_failure()
                    failures.error(
                        "inbound batch of %d records failed (%s); retrying in %.1fs",
                        self._pipeline.waiting,
                        type(error).__name__,
                        backoff,
                        exc_info=True,
                    )
                    stop.wait(backoff)
                    backoff = min(backoff * 2, self.max_retry_backoff)
                else:
                    backoff = self.retry_backoff
                    self._failing_since = None
        finally:
            if not self._closed:
                self.flush()

    def stalled(self, after: float = STALL_AFTER) -> str | None:
        """Why consumption has not gone on: its batches have kept failing for `after` seconds
        (the store unreachable, say), or it has had no partition for `assignment_grace`
        seconds; None when it consumes."""
        now = time.monotonic()
        since = self._failing_since
        if since is not None and now - since >= after:
            return f"inbound batches failing for {now - since:.0f} s"
        unassigned = self._unassigned_since
        if unassigned is not None and now - unassigned >= self.assignment_grace:
            return (
                f"no partition assigned for {now - unassigned:.0f} s (the broker does not "
                "answer, the group is rebalancing, or it has more members than partitions)"
            )
        return None

    def run_once(self) -> int:
        """Handles one batch synchronously: the one that failed last time, or the next poll's
        records. Returns when the batch is stored (and Kafka's offsets committed).

        Returns how many records the batch held (0: nothing to do). Raises what handling the
        batch raised; the batch is then kept and the next call retries it. A pipelined batch
        still in flight is stored first (it comes first)."""
        self._check_open()
        self.flush()
        if not self._pipeline.waiting:
            envelopes = self._poll()
            if not envelopes:
                return 0
            self._pipeline.queue(envelopes)
        try:
            return self._pipeline.redo_next()
        finally:
            self.metrics.record_conflicts(self._pipeline.batches.conflicts)

    def run_pipelined_once(self) -> int:
        """One step of the pipelined loop (`run`, and the bench): polls and hands the batch over
        to be decided while the previous one is stored (gcp_app.inbound.pipeline).

        Returns how many records were stored in this call (the previous batch's, or batches
        redone; 0 if none). A failed store is redone here through the synchronous path together
        with the batch decided on top of it; raises what that redo raises (the batches are
        kept)."""
        before = self._stored_records
        self._check_open()
        try:
            if self._pipeline.waiting:
                self._pipeline.redo_next()
            else:
                # A rebalance in the poll flushes the store in flight first.
                self._pipeline.pipelined(self._poll())
        finally:
            self.metrics.record_conflicts(self._pipeline.batches.conflicts)
        return self._stored_records - before

    def flush(self) -> int:
        """Waits for the batch in flight, if any. Stored: its Kafka offsets, metrics and logs
        follow (returns its size). Failed: it is queued to be redone synchronously (returns 0).
        Never raises for the store."""
        stored = self._pipeline.flush()
        self.metrics.record_conflicts(self._pipeline.batches.conflicts)
        return stored

    def close(self) -> None:
        """Stores the batch in flight, then leaves the group. A batch not yet handled is simply
        read again by the next owner of its partitions (from the database's positions).
        Idempotent."""
        if not self._closed:
            self._closed = True
            self._pipeline.close()
            self._consumer.close()

    # ------------------------------------------------------------------ the batches

    def batch_stored(self, batch: Sequence[Envelope], handled: Sequence[Handled]) -> None:
        """After the batch's database commit, never before: metrics, logs, Kafka's offsets."""
        self._stored_records += len(batch)
        self.metrics.record_batch(handled)
        self._log_outcomes(handled)
        self._commit(batch)
        self._observe_lag(batch)

    def store_failed(self) -> None:
        self.metrics.record_failure()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the consumer is closed")
        if self._resubscribe:
            # The last assignment could not be positioned: leave and rejoin for a new one.
            self._consumer.unsubscribe()
            self._subscribe()

    def _poll(self) -> list[Envelope]:
        """The next batch: up to `batch_size` records, waiting at most `batch_timeout` for the
        first; it grows while the batch before it is still being stored (batch_window)."""
        records = gather(
            self._consumer.consume, self.batch_size, self.batch_timeout, self._writer_busy
        )
        envelopes = self._envelopes(records)
        if envelopes:
            self.metrics.record_consumed(len(envelopes))
        return envelopes

    def _writer_busy(self) -> bool:
        return self._pipeline.storing

    @property
    def in_flight(self) -> int:
        """Records of the batch being stored on the writer thread (0: none)."""
        return self._pipeline.in_flight

    @property
    def assignment(self) -> list[Partition]:
        return [(p.topic, p.partition) for p in self._consumer.assignment()]

    # ------------------------------------------------------------------ records

    def _envelopes(self, records: Sequence[Message]) -> list[Envelope]:
        envelopes = []
        for record in records:
            error = record.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    self.metrics.record_kafka_error()
                    logger.warning(
                        "consumer error on %s [%s]: %s",
                        record.topic(),
                        record.partition(),
                        error.str(),
                    )
                continue
            topic, partition, offset = record.topic(), record.partition(), record.offset()
            if topic is None or partition is None or offset is None:
                continue  # Not a record of a partition (cannot happen for a consumed message).
            envelopes.append(self._envelope(topic, partition, offset, record))
        return envelopes

    def _envelope(self, topic: str, partition: int, offset: int, record: Message) -> Envelope:
        key, value = record.key(), record.value()
        kind = self.topics.kind_of(topic)
        if kind is None:  # Subscribed by name, so only if the topics changed under us.
            decoded: Any = Problem("invalid-message", f"{topic} is not an inbound topic")
        else:
            decoded = decode(kind, key, value)
        if isinstance(decoded, Problem):
            return Envelope(
                topic,
                partition,
                offset,
                key,
                value,
                problem=decoded,
                message_id=readable_message_id(value),
            )
        return Envelope(topic, partition, offset, key, value, message=decoded)

    def _log_outcomes(self, handled: Sequence[Handled]) -> None:
        for item in handled:
            envelope = item.envelope
            message_id = getattr(envelope.message, "message_id", None)
            if item.outcome is Outcome.DEAD_LETTERED:
                logger.warning(
                    "dead letter %s [%d] @ %d messageId=%s reasonCode=%s",
                    envelope.topic,
                    envelope.partition,
                    envelope.offset,
                    message_id,
                    item.problem.code if item.problem else None,
                )
            elif logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "%s %s [%d] @ %d messageId=%s",
                    item.outcome.value,
                    envelope.topic,
                    envelope.partition,
                    envelope.offset,
                    message_id,
                )

    # ------------------------------------------------------------------ offsets

    def _commit(self, batch: Sequence[Envelope]) -> None:
        """After the database commit: Kafka's offsets follow, asynchronously (a hint only)."""
        next_offsets: dict[Partition, int] = {}
        for envelope in batch:
            at = (envelope.topic, envelope.partition)
            next_offsets[at] = max(next_offsets.get(at, 0), envelope.offset + 1)
        offsets = [TopicPartition(t, p, o) for (t, p), o in next_offsets.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as error:
            # The database has the positions; the next commit carries Kafka's forward.
            logger.warning("could not commit offsets to Kafka: %s", error.args[0])

    def _observe_lag(self, batch: Sequence[Envelope]) -> None:
        """High watermark (cached from the last fetch, no request) minus the next offset."""
        last: dict[Partition, int] = {}
        for envelope in batch:
            at = (envelope.topic, envelope.partition)
            last[at] = max(last.get(at, -1), envelope.offset)
        lag = {}
        for (topic, partition), offset in last.items():
            try:
                _, high = self._consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), cached=True
                )
            except KafkaException:
                continue
            if high >= 0:
                lag[(topic, partition)] = max(high - offset - 1, 0)
        self.metrics.record_lag(lag)

    # ------------------------------------------------------------------ group membership

    def _subscribe(self) -> None:
        self._resubscribe = False
        self._consumer.subscribe(
            list(self.topics.names),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Every assigned partition starts after the position the DATABASE recorded."""
        # The batch in flight first: the positions read below must include it.
        self.flush()
        self._pipeline.reassigned()
        try:
            for tp in partitions:
                recorded = self._position(tp.topic, tp.partition)
                tp.offset = OFFSET_BEGINNING if recorded is None else recorded + 1
        except Exception:  # never start a partition from a guessed position
            logger.error(
                "could not read the consumed positions; leaving the partitions unassigned "
                "and rejoining the group",
                exc_info=True,
            )
            consumer.assign([])
            self._resubscribe = True
            self._unassigned_since = self._unassigned_since or time.monotonic()
            return
        consumer.assign(partitions)
        self._unassigned_since = None if partitions else time.monotonic()
        logger.info(
            "assigned %s",
            ", ".join(f"{tp.topic} [{tp.partition}] from {_offset(tp.offset)}" for tp in partitions)
            or "nothing",
        )

    def _position(self, topic: str, partition: int) -> int | None:
        for attempt in range(3):
            try:
                return self._pipeline.batches.position(topic, partition)
            except Exception:  # retried briefly, then the assignment fails
                if attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))
        return None  # pragma: no cover - the loop returns or raises

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # The batch in flight first: the next owner starts from the positions it records.
        self.flush()
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        if revoked >= set(self.assignment):  # all of them (the eager protocol's rebalance)
            self._unassigned_since = self._unassigned_since or time.monotonic()
        self._pipeline.forget(revoked)
        self.metrics.forget_partitions(sorted(revoked))
        logger.info("revoked %s", ", ".join(f"{t} [{p}]" for t, p in sorted(revoked)) or "nothing")

    @staticmethod
    def _on_commit(error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if error is not None:
            logger.warning("Kafka offset commit failed: %s", error.str())

    def _on_error(self, error: KafkaError) -> None:
        self.metrics.record_kafka_error()
        if error.fatal():
            logger.error("Kafka client error: %s", error.str())
        else:  # librdkafka retries, and its own log (LIBRDKAFKA, deduplicated) says it once
            logger.debug("Kafka client error: %s", error.str())


def _offset(offset: int) -> str:
    return "the beginning" if offset == OFFSET_BEGINNING else str(offset)
