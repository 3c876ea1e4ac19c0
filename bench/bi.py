"""BI's figures: the landing rate and the marts' build over a year of stream messages.

The synthetic traffic (bench/bi_workload.py) is produced into a librdkafka mock cluster in this
process (not timed); then, each in a process of its own so that its peak memory is its own:

- ingest: `gcp bi`'s consumer lands every message of the four topics into a fresh landing
  file, until the topics are idle (`bi_ingest_msgs_per_s`, `bi_ingest_peak_rss_mb`);
- build: dbt builds the staging, intermediate and mart models and runs every test over it
  (`bi_build_s`, `bi_build_peak_rss_mb`), as `gcp bi build` does after landing.
"""

from __future__ import annotations

import multiprocessing
import resource
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

from confluent_kafka import Consumer, Producer, TopicPartition

from bench import bi_workload
from gcp_adapters.bi.dbt_run import dbt_build
from gcp_adapters.bi.ingest import Ingest
from gcp_adapters.bi.landing import Landing, landing_path
from gcp_adapters.kafka.mock_cluster import MockCluster

TOPICS: Final = (bi_workload.STREAM, bi_workload.SALES, bi_workload.PAYMENTS, "All_Clients")
# The mock cluster keeps about 24 MB a partition (older segments are dropped): enough
# partitions that a million stream messages (about 640 MB) are all still there to land.
PARTITIONS: Final = {bi_workload.STREAM: 64, bi_workload.SALES: 8, bi_workload.PAYMENTS: 16}


class BiFailed(RuntimeError):
    pass


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ingest(bootstrap: str, marts: str, answer: Connection) -> None:
    with Landing(landing_path(Path(marts))) as landing:
        ingest = Ingest(bootstrap, TOPICS, "bench-bi", landing)
        started = time.perf_counter()
        landed = ingest.catch_up()
        ingest.close()
    elapsed = time.perf_counter() - started  # the landing file closed: checkpointed
    answer.send({"landed": landed, "elapsed": elapsed, "peak_rss_mb": _peak_rss_mb()})


def _build(marts: str, answer: Connection) -> None:
    path = Path(marts)
    started = time.perf_counter()
    result = dbt_build(path, landing_path(path), {})
    elapsed = time.perf_counter() - started
    answer.send(
        {
            "success": result.success,
            "failures": [f"{f.node}: {f.message[:200]}" for f in result.failures],
            "models": result.models,
            "tests": result.tests,
            "elapsed": elapsed,
            "peak_rss_mb": _peak_rss_mb(),
        }
    )


def _in_child(target: Callable[..., None], *arguments: Any) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=target, args=(*arguments, send))
    child.start()
    send.close()
    try:
        answer: dict[str, Any] = receive.recv()
    except EOFError:
        child.join()
        raise BiFailed(f"{target.__name__} ended with {child.exitcode} and no answer") from None
    child.join()
    return answer


def _produce(bootstrap: str, stream_messages: int, say: Callable[[str], None]) -> int:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.num.messages": 10_000,
         "queue.buffering.max.messages": 1_000_000, "compression.type": "lz4"}
    )  # fmt: skip
    produced = 0
    for topic, key, value in bi_workload.generate(stream_messages):
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.1)
        produced += 1
        if produced % 100_000 == 0:
            producer.poll(0)
            say(f"bi: produced {produced:,} messages")
    if producer.flush(120):
        raise BiFailed("the producer could not deliver everything")
    return produced


def _check_retained(bootstrap: str, produced: int) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-bi-check"})
    try:
        held = 0
        for topic in TOPICS:
            for partition in range(PARTITIONS.get(topic, 1)):
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
                held += high - low
    finally:
        consumer.close()
    if held != produced:
        raise BiFailed(f"the mock cluster holds {held} of {produced} messages: more partitions")


def run(stream_messages: int, directory: Path, say: Callable[[str], None]) -> dict[str, Any]:
    cluster = MockCluster()
    try:
        for topic in TOPICS:
            cluster.create_topic(topic, PARTITIONS.get(topic, 1))
        say(f"bi: producing {stream_messages:,} stream messages and their orders (not timed)")
        produced = _produce(cluster.bootstrap_servers, stream_messages, say)
        marts = str(directory / "bi" / "marts.duckdb")
        _check_retained(cluster.bootstrap_servers, produced)
        say(f"bi: landing {produced:,} messages")
        ingest = _in_child(_ingest, cluster.bootstrap_servers, marts)
    finally:
        cluster.close()
    if ingest["landed"] != produced:
        raise BiFailed(f"landed {ingest['landed']} of {produced} messages")
    say("bi: building the marts (dbt build: models and tests)")
    build = _in_child(_build, marts)
    if not build["success"]:
        raise BiFailed(f"dbt build failed: {build['failures'][:5]}")
    return {
        "bi_stream_messages": stream_messages,
        "bi_messages": produced,
        "bi_ingest_msgs_per_s": produced / ingest["elapsed"],
        "bi_ingest_s": ingest["elapsed"],
        "bi_ingest_peak_rss_mb": ingest["peak_rss_mb"],
        "bi_build_s": build["elapsed"],
        "bi_build_models": build["models"],
        "bi_build_tests": build["tests"],
        "bi_build_peak_rss_mb": build["peak_rss_mb"],
    }
