"""(b) pipeline: Kafka in, matching, the event store, the relay, Kafka out, as deployed.

    bench process:   the embedded broker (librdkafka mock cluster, its own C threads)
                     + a confluent-kafka producer feeding the workload onto the inbound topics
    consumer process: InboundConsumer (batches of 2,000) -> InboundBatches -> PostgreSQL
    relay process:    Relay: notification log -> Outbox -> GiftCertificates.Stream / .DLQ

The consumer and the relay run in processes of their own against the shared PostgreSQL, as
`gcp serve --only consumers` and `--only relay` would, with the garbage collector settled after
start-up as it does (`gcp_adapters.heap`): on two cores, two Python processes are not
serialised by one GIL. The producer keeps at most `lead` messages ahead of what the consumer has
handled: the mock cluster keeps only ~14k messages per partition, and a bounded lead also keeps
the workload's order (a certificate's redemptions come `lag` > `lead` messages after its
issue, so they are consumed after it).

Measured: from the start of the first consume() that returned records to the moment the relay
has published (acknowledged) everything up to the last notification the consumer stored.
"""

from __future__ import annotations

import cProfile
import gc
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.sharedctypes
import os
import resource
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any, Final

from confluent_kafka import Producer

from bench import workload
from bench.workload import INBOUND, Record
from gcp_adapters import heap
from gcp_adapters.bootstrap import build_application
from gcp_adapters.kafka.consumer import DEFAULT_BATCH_SIZE, InboundConsumer
from gcp_adapters.kafka.embedded import EmbeddedBroker
from gcp_adapters.kafka.relay import DEFAULT_DLQ_TOPIC, DEFAULT_STREAM_TOPIC, Relay
from gcp_app.application import GiftCertificates
from gcp_app.outbox import Outbox
from gcp_app.settings import Settings

PARTITIONS: Final = 16
GROUP: Final = "gcp-bench"
# Nothing handled for this long: the run has stalled (a bug, or the mock dropped messages).
STALL_TIMEOUT: Final = 60.0
START_TIMEOUT: Final = 60.0


class PipelineFailed(Exception):
    pass


def _cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) CPU ticks of the whole machine so far (Linux), None elsewhere."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _log_to(path: Path) -> None:
    logging.basicConfig(
        filename=str(path),
        level=logging.WARNING,
        format="%(asctime)s %(processName)s %(name)s %(levelname)s %(message)s",
    )


# ---------------------------------------------------------------------- the consumer process


def _profiled(name: str) -> Any:
    """With GCP_BENCH_PROFILE=DIR, a child process runs under cProfile into DIR/NAME.prof."""
    directory = os.environ.get("GCP_BENCH_PROFILE")
    if not directory:
        return None
    profile = cProfile.Profile()
    profile.enable()
    return (profile, Path(directory) / f"{name}.prof")


class _CollectorClock:
    """Seconds the garbage collector ran in this process (gc.callbacks), from `start`."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._began = 0.0

    def start(self) -> None:
        gc.callbacks.append(self._observe)

    def _observe(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._began
            self.collections += 1


def _dump(profiling: Any) -> None:
    if profiling is not None:
        profile, path = profiling
        profile.disable()
        path.parent.mkdir(parents=True, exist_ok=True)
        profile.dump_stats(str(path))


def consumer_main(
    index: int,
    settings: Settings,
    bootstrap: str,
    expected: int,
    batch_size: int,
    handled: Any,  # multiprocessing Value('q'): records handled so far, by all consumers
    assigned: Any,  # multiprocessing Array('q'): partitions assigned, per consumer (-1: started)
    go: Any,  # multiprocessing Event: every consumer has its partitions
    results: multiprocessing.connection.Connection,
    log_path: Path,
) -> None:
    _log_to(log_path)
    try:
        app = build_application(settings)
        assigned[index] = -1
        consumer = InboundConsumer(app, bootstrap, group_id=GROUP, batch_size=batch_size)
        heap.settle()  # as `gcp serve` does once it has started
        deadline = time.monotonic() + START_TIMEOUT
        early = 0  # records of a poll that was under way when `go` came (the window closes
        # as soon as records arrive: the first of the producer's may be in it)
        while not go.is_set():
            early = consumer.run_once()
            if early and not go.is_set():
                raise PipelineFailed("records before the assignment was complete")
            assigned[index] = len(consumer.assignment)
            if time.monotonic() > deadline:
                raise PipelineFailed(f"no full assignment within {START_TIMEOUT:.0f} s")
        if early:
            with handled.get_lock():
                handled.value += early
        cpu_before = time.process_time()
        collector = _CollectorClock()
        collector.start()
        profiling = _profiled(f"consumer-{index}")
        first: float | None = None
        last_progress = time.monotonic()
        seen = 0
        while handled.value < expected:
            started = time.monotonic()
            # Pipelined, as `gcp serve` runs it: the count is what was stored in this call.
            count = consumer.run_pipelined_once()
            if first is None and consumer.metrics.snapshot().consumed:
                first = started  # the call whose poll returned the first records
            if count:
                with handled.get_lock():
                    handled.value += count
            if handled.value != seen:
                seen, last_progress = handled.value, time.monotonic()
            elif time.monotonic() - last_progress > STALL_TIMEOUT:
                raise PipelineFailed(
                    f"the consumers handled nothing for {STALL_TIMEOUT:.0f} s at {seen} of "
                    f"{expected} records (has the mock cluster dropped messages?)"
                )
        finished = time.monotonic()
        cpu = time.process_time() - cpu_before
        _dump(profiling)
        stats = consumer.metrics.snapshot()
        last = app.store.recorder.max_notification_id() or 0
        consumer.close()
        app.close()
        results.send(
            {
                "first": first,
                "finished": finished,
                "cpu": cpu,
                "gc_s": collector.seconds,
                "gc_collections": collector.collections,
                # Peak resident memory of the process (Linux reports KiB): what its caches cost.
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "last_notification": last,
                "consumed": stats.consumed,
                "applied": stats.applied,
                "ignored": stats.ignored,
                "duplicates": stats.duplicates,
                "already_consumed": stats.already_consumed,
                "dead_letters": stats.dead_lettered,
                "batches": stats.batches,
                "failed_batches": stats.failed_batches,
            }
        )
    except BaseException as error:
        logging.getLogger("bench").exception("consumer failed")
        results.send({"error": f"consumer {index}: {type(error).__name__}: {error}"})


# ---------------------------------------------------------------------- the relay process


def relay_main(
    settings: Settings,
    bootstrap: str,
    control: multiprocessing.connection.Connection,
    log_path: Path,
) -> None:
    _log_to(log_path)
    try:
        app = build_application(settings)
        relay = Relay(
            app, {"bootstrap.servers": bootstrap}, DEFAULT_STREAM_TOPIC, DEFAULT_DLQ_TOPIC
        )
        heap.settle()  # as `gcp serve` does once it has started
        stop = threading.Event()

        def publish() -> None:
            profiling = _profiled("relay")  # cProfile follows one thread: this one
            try:
                relay.run(stop)
            finally:
                _dump(profiling)

        thread = threading.Thread(target=publish, name="relay", daemon=True)
        thread.start()
        cpu_before = time.process_time()  # the relay idles until the first message
        control.send({"ready": True})
        target: int = control.recv()  # the last notification the consumer stored
        deadline = time.monotonic() + STALL_TIMEOUT
        while relay.position < target:
            if time.monotonic() > deadline or not thread.is_alive():
                raise PipelineFailed(
                    f"the relay did not reach {target} within {STALL_TIMEOUT:.0f} s after the "
                    f"consumer finished (at {relay.position}; {relay.stats().last_error})"
                )
            time.sleep(0.005)
        caught_up = time.monotonic()
        cpu = time.process_time() - cpu_before
        stats = relay.stats()
        hits, misses = relay.outbox.cache_hits, relay.outbox.cache_misses
        stop.set()
        relay.stop()
        thread.join(10)
        app.close()
        control.send(
            {
                "caught_up": caught_up,
                "cpu": cpu,
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "published": stats.published,
                "position": stats.last_position,
                "delivery_errors": stats.delivery_errors,
                "producer_restarts": stats.producer_restarts,
                "outbox_cache_hits": hits,
                "outbox_cache_misses": misses,
            }
        )
    except BaseException as error:
        logging.getLogger("bench").exception("relay failed")
        control.send({"error": f"relay: {type(error).__name__}: {error}"})


# ---------------------------------------------------------------------- the bench process


def _receive(conn: multiprocessing.connection.Connection, timeout: float, what: str) -> Any:
    if not conn.poll(timeout):
        raise PipelineFailed(f"no answer from the {what} within {timeout:.0f} s")
    answer = conn.recv()
    if isinstance(answer, dict) and "error" in answer:
        raise PipelineFailed(answer["error"])
    return answer


def _started(assigned: Any, count: int) -> bool:
    return all(assigned[:count])


def _await(
    condition: Callable[[], bool],
    *answers: multiprocessing.connection.Connection,
    what: str,
) -> None:
    """Waits until `condition` holds; raises if a consumer fails first or it takes too long."""
    deadline = time.monotonic() + START_TIMEOUT
    while not condition():
        time.sleep(0.05)
        for answer in answers:
            if answer.poll():
                _receive(answer, 0, "consumer")
        if time.monotonic() > deadline:
            raise PipelineFailed(f"waited {START_TIMEOUT:.0f} s for {what}")


def _produce(
    producer: Producer,
    records: Sequence[Record],
    handled: Any,
    lead: int,
    consumer_answers: Sequence[multiprocessing.connection.Connection],
) -> None:
    """Feeds the records, never more than `lead` ahead of what the consumers have handled."""
    last_progress = time.monotonic()
    seen = 0
    for produced, record in enumerate(records):
        while produced - handled.value >= lead:
            producer.poll(0.002)
            if handled.value != seen:
                seen, last_progress = handled.value, time.monotonic()
            elif time.monotonic() - last_progress > STALL_TIMEOUT:
                raise PipelineFailed(f"the consumers stalled at {seen} records")
            if any(answer.poll() for answer in consumer_answers):  # one failed early
                return
        workload.produce(producer, record, every=1000, produced=produced)
    if producer.flush(STALL_TIMEOUT) > 0:
        raise PipelineFailed("the inbound producer could not deliver every record")


def _summed(answers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The consumers' answers as one: the earliest start, the latest end, sums of the rest."""
    summed = {k: sum(a[k] for a in answers) for k in answers[0] if k not in _NOT_SUMMED}
    summed["first"] = min(a["first"] for a in answers if a["first"] is not None)
    summed["finished"] = max(a["finished"] for a in answers)
    summed["max_rss_mb"] = max(a["max_rss_mb"] for a in answers)
    summed["last_notification"] = max(a["last_notification"] for a in answers)
    return summed


_NOT_SUMMED: Final = {"first", "finished", "max_rss_mb", "last_notification"}


def run(
    app: GiftCertificates,
    settings: Settings,
    records: Sequence[Record],
    *,
    lead: int,
    log_path: Path,
    batch_size: int = DEFAULT_BATCH_SIZE,
    consumers: int = 1,
) -> dict[str, Any]:
    """Runs the pipeline over `records` (the store already holds the reserved certificates)
    with `consumers` consumer processes in one group, as `gcp serve --only consumers` scaled
    out would run."""
    # Setup (pool generation, reservations) is not part of the measured stream: the relay
    # starts after it, as if it had published it already.
    outbox = Outbox(app.store)
    setup_end = outbox.last_position()
    outbox.record_position(DEFAULT_STREAM_TOPIC, setup_end)
    context = multiprocessing.get_context("spawn")
    handled = context.Value("q", 0)
    assigned: Any = context.Array("q", consumers)
    go = context.Event()
    relay_control, relay_end = context.Pipe()
    processes: list[SpawnProcess] = []
    answers: list[multiprocessing.connection.Connection] = []
    with EmbeddedBroker(partitions=PARTITIONS) as broker:
        try:
            relay = context.Process(
                target=relay_main,
                args=(settings, broker.bootstrap_servers, relay_end, log_path),
                name="bench-relay",
            )
            processes.append(relay)
            relay.start()
            # One process after the other: each runs the library's CREATE ... IF NOT EXISTS
            # statements on start, and two at once can fail ("tuple concurrently updated").
            _receive(relay_control, START_TIMEOUT, "relay")
            for index in range(consumers):
                answer, answer_end = context.Pipe(duplex=False)
                answers.append(answer)
                process = context.Process(
                    target=consumer_main,
                    args=(
                        index,
                        settings,
                        broker.bootstrap_servers,
                        len(records),
                        batch_size,
                        handled,
                        assigned,
                        go,
                        answer_end,
                        log_path,
                    ),
                    name=f"bench-consumer-{index}",
                )
                processes.append(process)
                process.start()
                # -1 once it made its application, then how many partitions it holds.
                _await(partial(_started, assigned, index + 1), answer, what=f"consumer {index}")
            # Every consumer holds partitions and together they hold all: the group settled.
            _await(
                lambda: min(assigned[:]) > 0 and sum(assigned[:]) == PARTITIONS * len(INBOUND),
                *answers,
                what="the consumers' partitions",
            )
            go.set()
            producer = Producer(
                {
                    "bootstrap.servers": broker.bootstrap_servers,
                    "linger.ms": 5,
                    "partitioner": "murmur2_random",
                    "queue.buffering.max.messages": 200_000,
                }
            )
            produce_started = time.monotonic()
            ticks_before = _cpu_ticks()
            _produce(producer, records, handled, lead, answers)
            consumed = _summed(
                [_receive(answer, STALL_TIMEOUT * 10, "consumer") for answer in answers]
            )
            relay_control.send(consumed["last_notification"])
            relayed = _receive(relay_control, STALL_TIMEOUT * 2, "relay")
            ticks_after = _cpu_ticks()
            del producer
        finally:
            go.set()
            for process in processes:
                process.join(10)
                if process.is_alive():
                    process.terminate()
                    process.join(5)
    elapsed = relayed["caught_up"] - consumed["first"]
    from bench.store import count_events  # noqa: PLC0415

    events = count_events(app, setup_end)
    messages = len(records)
    dead_letters = consumed["dead_letters"]
    busy = None
    if ticks_before is not None and ticks_after is not None:
        # How busy all the machine's cores were while the pipeline ran (everything on it).
        busy = (ticks_after[0] - ticks_before[0]) / max(ticks_after[1] - ticks_before[1], 1)
    return {
        "pipeline_machine_cpu_busy": busy,
        "pipeline_messages": messages,
        "pipeline_elapsed_s": elapsed,
        "pipeline_msgs_per_s": messages / elapsed,
        "pipeline_events_stored": events,
        "pipeline_events_per_s": events / elapsed,
        "pipeline_published": relayed["published"],
        "pipeline_published_per_s": relayed["published"] / elapsed,
        "pipeline_stream_published": relayed["published"] - dead_letters,
        "pipeline_consumer_elapsed_s": consumed["finished"] - consumed["first"],
        "pipeline_relay_lag_s": relayed["caught_up"] - consumed["finished"],
        "pipeline_consumer_cpu_s": consumed["cpu"],
        "pipeline_consumer_gc_s": consumed["gc_s"],
        "pipeline_consumer_gc_collections": consumed["gc_collections"],
        "pipeline_consumer_max_rss_mb": consumed["max_rss_mb"],
        "pipeline_relay_cpu_s": relayed["cpu"],
        "pipeline_relay_max_rss_mb": relayed["max_rss_mb"],
        "pipeline_first_consumed_after_produce_s": consumed["first"] - produce_started,
        "pipeline_applied": consumed["applied"],
        "pipeline_ignored": consumed["ignored"],
        "pipeline_duplicates": consumed["duplicates"],
        "pipeline_already_consumed": consumed["already_consumed"],
        "pipeline_dead_letters": dead_letters,
        "pipeline_batches": consumed["batches"],
        "pipeline_failed_batches": consumed["failed_batches"],
        "pipeline_relay_delivery_errors": relayed["delivery_errors"],
        "pipeline_relay_producer_restarts": relayed["producer_restarts"],
        "pipeline_outbox_cache_hits": relayed["outbox_cache_hits"],
        "pipeline_outbox_cache_misses": relayed["outbox_cache_misses"],
        "pipeline_partitions": PARTITIONS,
        "pipeline_consumer_batch_size": batch_size,
        "pipeline_consumers": consumers,
        "pipeline_producer_lead": lead,
    }
