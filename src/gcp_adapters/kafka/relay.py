"""The outbound relay: the notification log, through the outbox, to Kafka.

GiftCertificates.Stream gets every published change of a certificate (and ISSUE_BLOCKED of a
pool); GiftCertificates.DLQ gets every dead letter. The event store is the outbox: a change is
committed once, and this relay publishes it afterwards, at least once, in log order.

How the position moves (the one rule that makes this at-least-once): a batch of notifications
after the recorded position is read and produced in log order; the relay then waits for the
delivery reports and records the position only up to the last notification whose message, and
every earlier one's, was acknowledged by the brokers (acks=all). A message still unacknowledged,
or failed, holds the position before it; after a failure the producer is replaced and the batch
is re-sent from that message. A crash therefore re-sends, never skips; consumers dedupe by the
stable eventId (deadLetterId on the DLQ).

Order per key: one idempotent producer keeps each partition's messages in produce order across
retries. `message.timeout.ms=0` (never time out) lets it ride out a broker outage of any length:
messages wait in its queue and go out when the brokers return, instead of expiring one by one
(expiry is what can leave a gap: a later message of the same key delivered after an earlier one
failed). `enable.gapless.guarantee` turns every other error that could leave such a gap into a
fatal producer error, on which the relay starts a new producer from the first undelivered
message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final, Literal

import attrs
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from gcp_adapters.closing import ClosedOnExit
from gcp_adapters.kafka.client_logs import LIBRDKAFKA
from gcp_adapters.kafka.refusals import Refusals, error_text, is_permanent, kafka_error
from gcp_adapters.logs import quiet_logger
from gcp_app.application import GiftCertificates
from gcp_app.change_signal import change_signal
from gcp_app.outbox import DEAD_LETTERS, STREAM, Destination, Outbox, Outgoing
from gcp_domain.cause import Cause

logger = logging.getLogger("gcp.kafka.relay")
# A step that keeps failing (the store away) is said once a minute, not every second.
failures = quiet_logger("gcp.kafka.relay.failures")

DEFAULT_STREAM_TOPIC: Final = "GiftCertificates.Stream"
DEFAULT_DLQ_TOPIC: Final = "GiftCertificates.DLQ"
DEFAULT_BATCH_SIZE: Final = 500
DEFAULT_POLL_INTERVAL: Final = 0.2
# How long one wait on the producer lasts before the relay checks whether it must stop.
WAIT_STEP: Final = 0.1
# After an unexpected error (the store unreachable, ...), the relay waits this long and retries.
ERROR_BACKOFF: Final = 1.0
# Readiness fails when the relay has neither moved its position nor been caught up this long.
STALL_AFTER: Final = 30.0

PRODUCER_DEFAULTS: Final[Mapping[str, Any]] = {
    "client.id": "gcp-relay",
    # Small: the relay waits for each batch's reports anyway, and flush() sends at once.
    "linger.ms": 5,
    # Never expire a message: an outage only delays it (see the module's docstring).
    "message.timeout.ms": 0,
    # Any error that could leave a gap in a partition stops this producer (fatal) instead;
    # the relay then re-sends from the first undelivered message with a new one.
    "enable.gapless.guarantee": True,
    # The Java clients' partitioner, so that every producer of a key picks the same partition.
    "partitioner": "murmur2_random",
    "retry.backoff.ms": 100,
    "retry.backoff.max.ms": 1000,
    "reconnect.backoff.ms": 100,
    "reconnect.backoff.max.ms": 2000,
}
# Not overridable: what the guarantees stand on.
PRODUCER_REQUIRED: Final[Mapping[str, Any]] = {"enable.idempotence": True, "acks": "all"}

_WAITING: Final = "waiting"
_DELIVERED: Final = "delivered"
_PARKED: Final = "parked"
_FAILED: Final = "failed"
State = Literal["waiting", "delivered", "parked", "failed"]
_SETTLED: Final = (_DELIVERED, _PARKED)
# Who parks a message the brokers refuse for good (gcp_adapters.kafka.refusals).
PARKING_CAUSE: Final = Cause.system("gcp:relay", "relay")


def relay_producer_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The relay's producer settings: its defaults, then `config`, then the required ones."""
    merged = {**PRODUCER_DEFAULTS, **config, **PRODUCER_REQUIRED}
    if "bootstrap.servers" not in merged:
        raise ValueError("the relay's producer needs bootstrap.servers")
    return merged


@attrs.define
class _Entry:
    """One produced message awaiting its delivery report."""

    message: Outgoing
    generation: int
    state: State = _WAITING
    error: str | None = None
    # Refused by the producer itself (produce() raised): it concerns this message alone.
    produced_locally: bool = False

    @property
    def position(self) -> int:
        return self.message.position


@attrs.frozen
class RelayStats:
    """Counters for metrics."""

    published: int
    """Messages acknowledged by the brokers in position order (re-sends counted again)."""
    delivery_errors: int
    """Delivery reports with an error, and fatal producer errors."""
    last_position: int
    """Every notification up to here is published (the recorded position)."""
    in_flight: int
    """Messages produced and not yet acknowledged."""
    producer_restarts: int
    last_error: str | None
    parked: int = 0
    """Messages parked since the start: the brokers refused them for good (gcp_app.parked)."""


class Relay(ClosedOnExit):
    """Publishes the outbox to `stream_topic` and `dlq_topic` with one idempotent producer.

    Its position is recorded in the store under the stream topic's name (`outbox:<topic>`), so
    a new Relay on the same store resumes where the last one stopped; publishing to another
    topic keeps a position of its own. With `start_after`, it starts from that position
    instead and records nothing (republishing history). `destinations` limits what it sends.

    Not thread-safe: `run_once` and `run` belong to one thread; `stop` and `stats` may be called
    from any.
    """

    def __init__(
        self,
        app: GiftCertificates,
        producer_config: Mapping[str, Any],
        stream_topic: str = DEFAULT_STREAM_TOPIC,
        dlq_topic: str = DEFAULT_DLQ_TOPIC,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        outbox: Outbox | None = None,
        start_after: int | None = None,
        destinations: Collection[Destination] = (STREAM, DEAD_LETTERS),
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not stream_topic or not dlq_topic:
            raise ValueError("topic names must not be empty")
        self.app = app
        self.outbox = outbox or Outbox(app.store, app.settings.relay_cache_size)
        self.stream_topic = stream_topic
        self.dlq_topic = dlq_topic
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.destinations = frozenset(destinations)
        self.records_position = start_after is None
        self._config = relay_producer_config(producer_config)
        self._stop = threading.Event()
        self._external_stop: threading.Event | None = None
        self._woken: threading.Event | None = None
        self._position = (
            self.outbox.position(stream_topic) if start_after is None else max(start_after, 0)
        )
        self._pending: deque[_Entry] = deque()
        self._batch_end = self._position  # the last notification read into _pending
        self._waiting = 0
        self._generation = 0
        self._failed = False
        self._producer: Producer | None = None
        self._read_nothing = False
        # counters
        self._published = 0
        self._delivery_errors = 0
        self._restarts = 0
        self._parked = 0
        self._last_error: str | None = None
        self._progress_at = time.monotonic()
        self._refusals = Refusals()

    # ------------------------------------------------------------------ state

    @property
    def position(self) -> int:
        """Every notification up to here is published."""
        return self._position

    @property
    def caught_up(self) -> bool:
        """The last read found nothing new and nothing awaits a delivery report."""
        return self._read_nothing and not self._pending

    def stalled(self, after: float = STALL_AFTER) -> str | None:
        """Why publishing has not moved for `after` seconds while messages wait, or None."""
        idle = time.monotonic() - self._progress_at
        if idle < after:
            return None
        why = f"nothing published for {idle:.0f} s after notification {self._position}"
        return f"{why} ({self._last_error})" if self._last_error else why

    def stats(self) -> RelayStats:
        return RelayStats(
            published=self._published,
            delivery_errors=self._delivery_errors,
            last_position=self._position,
            in_flight=self._waiting,
            producer_restarts=self._restarts,
            last_error=self._last_error,
            parked=self._parked,
        )

    # ------------------------------------------------------------------ one step

    def run_once(self, limit: int | None = None, timeout: float | None = None) -> int:
        """Publishes the next batch (up to `limit` notifications) and waits for its delivery
        reports, for at most `timeout` seconds (None: until they all arrive or `stop()`).

        The position advances past every notification whose message, and every earlier
        one's, was acknowledged. Reports still missing at the timeout are awaited by the next
        call, which reads nothing new until the batch is settled. Returns the number of
        messages acknowledged by this call.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._pending:
            self._produce_batch(limit or self.batch_size)
        self._await_reports(deadline)
        return self._settle()

    def _producer_now(self) -> Producer:
        if self._producer is None:
            self._generation += 1
            self._failed = False
            self._producer = Producer(self._config_with_callbacks())
        return self._producer

    def _config_with_callbacks(self) -> dict[str, Any]:
        generation = self._generation

        def on_error(error: KafkaError) -> None:
            if error.fatal() and generation == self._generation:
                self._producer_failed(error.str())
            else:  # transient (a broker down, ...): librdkafka retries; its log says more
                logger.debug("relay producer: %s", error.str())

        return {**self._config, "error_cb": on_error, "logger": LIBRDKAFKA}

    def _producer_failed(self, error: str) -> None:
        if self._failed and self._last_error == f"fatal producer error: {error}":
            return  # the same fatal error, reported by error_cb and by flush()
        self._delivery_errors += 1
        self._last_error = f"fatal producer error: {error}"
        self._failed = True
        if is_permanent(error):
            # The gap-less guarantee turns a broker's permanent refusal into a fatal error.
            self._refusals.refused(error)
        logger.error("relay: %s", self._last_error)

    def _produce_batch(self, limit: int) -> None:
        if self._failed:  # a fatal producer error after the last batch was settled
            self._restart_producer()
        messages, last = self.outbox.read(self._position, self._refusals.limit(limit))
        self._batch_end = last
        self._read_nothing = last == self._position
        wanted = [m for m in messages if m.destination in self.destinations]
        if not wanted:
            return
        producer = self._producer_now()
        for message in wanted:
            entry = _Entry(message, self._generation)
            self._pending.append(entry)
            self._waiting += 1
            if not self._produce(producer, message, entry):
                break  # The rest of the batch goes again after the producer's restart.

    def _produce(self, producer: Producer, message: Outgoing, entry: _Entry) -> bool:
        topic = self.stream_topic if message.destination == STREAM else self.dlq_topic
        headers: list[tuple[str, str | bytes | None]] = list(message.headers)
        while True:
            try:
                producer.produce(
                    topic,
                    value=message.value,
                    key=message.key,
                    headers=headers,
                    on_delivery=self._reporter(entry),
                )
            except BufferError:
                if self._stopping():
                    # Never produced: forget it, and the batch ends before it.
                    self._pending.pop()
                    self._waiting -= 1
                    self._batch_end = entry.position - 1
                    return False
                producer.poll(WAIT_STEP)  # The local queue is full: let reports drain it.
                continue
            except KafkaException as error:
                entry.produced_locally = True  # refused before any broker saw it
                self._report(entry, kafka_error(error))
                return entry.state == _PARKED  # Refused for good: parked, the batch goes on.
            return True

    def _reporter(self, entry: _Entry) -> Callable[[KafkaError | None, Message], None]:
        def report(error: KafkaError | None, _message: Message) -> None:
            self._report(entry, error)

        return report

    def _report(self, entry: _Entry, error: KafkaError | str | None) -> None:
        if entry.generation != self._generation or entry.state != _WAITING:
            return  # A report for a batch already given up (purged by a restart).
        self._waiting -= 1
        if error is None:
            entry.state = _DELIVERED
            self._refusals.delivered(entry.position)
            return
        self._delivery_errors += 1
        text = error if isinstance(error, str) else error.str()
        if isinstance(error, KafkaError) and is_permanent(error):
            if entry.produced_locally:
                self._park(entry, text)
                return
            self._refusals.refused(text)  # about which message: judged when the batch settles
        entry.state = _FAILED
        entry.error = text
        self._failed = True
        self._last_error = text
        logger.warning("relay: delivery of notification %d failed: %s", entry.position, text)

    def _park(self, entry: _Entry, error: str) -> None:
        """The brokers will never take this message: park it (stored, counted, logged once)
        and count it as settled, so that the position moves past it. If the parking cannot be
        stored (the store is away), the message counts as failed: it is tried again, and
        parked then."""
        entry.error = error
        try:
            stored = self.outbox.park(entry.message, error, PARKING_CAUSE)
        except Exception:  # a delivery callback must not raise: the batch is redone instead
            logger.exception("relay: could not park notification %d; trying again", entry.position)
            entry.state = _FAILED
            self._failed = True
            self._last_error = f"could not park notification {entry.position}"
            return
        entry.state = _PARKED
        self._parked += 1
        self._last_error = f"parked notification {entry.position}: {error}"
        if stored:
            message = entry.message
            logger.error(
                "relay: parked notification %d (%s, %d bytes): %s; publishing goes on",
                message.position,
                message.destination,
                len(message.value),
                error,
            )

    def _await_reports(self, deadline: float | None) -> None:
        while self._waiting > 0 and not self._failed and not self._stopping():
            step = WAIT_STEP
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                step = min(step, left)
            assert self._producer is not None
            try:
                self._producer.flush(step)
            except KafkaException as error:  # a fatal error surfaces here too
                self._producer_failed(error_text(error))

    def _settle(self) -> int:
        """Moves the position past the acknowledged prefix of the batch; records it."""
        first = next((e for e in self._pending if e.state not in _SETTLED), None)
        refused = self._refusals.to_park(first.position if first else None)
        if first is not None and refused is not None:
            self._park(first, refused)
        delivered = 0
        while self._pending and self._pending[0].state in _SETTLED:
            if self._pending.popleft().state == _DELIVERED:
                delivered += 1
        self._published += delivered
        if not self._pending:
            reached = self._batch_end
        else:
            # Everything before the first unacknowledged message is done (the notifications in
            # between publish nothing); it and everything after it are not.
            reached = self._pending[0].position - 1
            if self._failed:
                self._restart_producer()
        self._advance(reached)
        return delivered

    def _advance(self, position: int) -> None:
        if position <= self._position:
            return
        self._progress_at = time.monotonic()
        self._position = position
        if self.records_position:
            self.outbox.record_position(self.stream_topic, position)

    def _restart_producer(self) -> None:
        """Gives up the batch's unacknowledged rest and the producer: the next call re-reads
        from the position, with a new producer (a failed idempotent producer cannot go on)."""
        logger.warning("relay: restarting the producer; re-sending after %d", self._position)
        self._restarts += 1
        self._pending.clear()
        self._waiting = 0
        self._discard_producer()

    def _discard_producer(self) -> None:
        producer, self._producer = self._producer, None
        self._generation += 1  # late reports of the old producer are ignored
        self._failed = False
        if producer is None:
            return
        producer.purge(in_queue=True, in_flight=True, blocking=True)
        producer.flush(1.0)  # serve the purged messages' reports
        producer.close()

    # ------------------------------------------------------------------ the loop

    def run(self, stop_event: threading.Event | None = None) -> None:
        """Publishes until `stop()` (or `stop_event`): batches while there is a backlog, then
        waits for new notifications (PostgreSQL's LISTEN/NOTIFY through the library's
        subscription where the store has one, polling every `poll_interval` otherwise)."""
        self._external_stop = stop_event
        try:
            with change_signal(self.app.store) as woken:
                self._woken = woken
                while not self._stopping():
                    woken.clear()
                    try:
                        self.run_once()
                    except Exception as error:
                        self._last_error = f"{type(error).__name__}: {error}"
                        failures.exception("relay: step failed; retrying in %.1f s", ERROR_BACKOFF)
                        self._sleep(ERROR_BACKOFF)
                        continue
                    if self.caught_up:
                        self._progress_at = time.monotonic()
                        woken.wait(self.poll_interval)
        finally:
            self._external_stop = None
            self._woken = None
            self.close()

    def _stopping(self) -> bool:
        external = self._external_stop
        return self._stop.is_set() or (external is not None and external.is_set())

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping() and time.monotonic() < deadline:
            self._stop.wait(min(WAIT_STEP, deadline - time.monotonic()))

    def stop(self) -> None:
        """Asks `run` (and a waiting `run_once`) to return."""
        self._stop.set()
        woken = self._woken
        if woken is not None:
            woken.set()

    def close(self) -> None:
        """Drops unacknowledged messages (they go again on the next start: the position stays
        before them) and the producer. Idempotent."""
        if self._producer is not None and self._pending:
            self._producer.flush(0)  # reports already in: the position may still advance
            self._settle()
        self._pending.clear()
        self._waiting = 0
        self._discard_producer()
