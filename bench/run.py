"""`python -m bench` (`nox -s bench`): every figure of docs/performance.md on this machine.

    python -m bench [--messages 100000] [--naive-messages 4000] [--json PATH]
                    [--soak-operations 200000] [--bi-messages 1000000]
                    [--http-processes N] [--http-duration S]
                    [--no-http | --http-only | --e2e-only | --startup-only | --soak-only
                     | --bi-only]

With no `--*-only` and no `--no-http`, every part: (a)-(c) naive, pipeline, ceiling; (d) HTTP;
(e) BI; (f) end to end; (g) start-up; (h) soak. BI's figures (bench/bi.py: landing rate, marts
build) need no PostgreSQL. The rest needs PostgreSQL (GCP_BENCH_POSTGRES, default
postgresql://postgres@127.0.0.1:5432/postgres); creates a database of its own for the run and
drops it afterwards. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench import bi, ceiling, e2e, naive, pipeline, soak, startup, store, workload
from bench import http as http_bench
from gcp_adapters import heap
from gcp_adapters.bootstrap import build_application
from gcp_adapters.kafka.consumer import DEFAULT_BATCH_SIZE
from gcp_app.application import GiftCertificates

PIPELINE_LEAD = 10_000
PIPELINE_LAG = 25_000
PIPELINE_CONSUMERS = 1


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000, help="pipeline messages")
    parser.add_argument(
        "--naive-messages", type=int, default=4000, help="naive messages (same mix, a subset)"
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("GCP_BENCH_POSTGRES", store.DEFAULT_SERVER),
        help="a PostgreSQL URL with the right to create databases",
    )
    parser.add_argument("--lead", type=int, default=PIPELINE_LEAD, help=argparse.SUPPRESS)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help="the consumer's batch size (default: the service's, %(default)s)",
    )
    parser.add_argument(
        "--consumers",
        type=int,
        default=PIPELINE_CONSUMERS,
        help="the pipeline's consumer processes, in one group (default %(default)s)",
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--http-only", action="store_true", help="run only the HTTP part (d)")
    only.add_argument(
        "--no-http", action="store_true", help="run only (a)-(c): naive, pipeline, ceiling"
    )
    only.add_argument(
        "--bi-only", action="store_true", help="run only BI's figures (e): landing and build"
    )
    only.add_argument(
        "--e2e-only",
        action="store_true",
        help="run only the end-to-end latency (f): a broker process, `gcp serve`, 200 and 1,000/s",
    )
    only.add_argument(
        "--soak-only",
        action="store_true",
        help="run only the soak (h): `gcp serve`'s memory over --soak-operations messages",
    )
    only.add_argument(
        "--startup-only",
        action="store_true",
        help="run only the start-up (g): `gcp serve` to ready with 200,000 certificates stored",
    )
    parser.add_argument(
        "--soak-operations",
        type=int,
        default=200_000,
        help="inbound messages of the soak (default %(default)s; the target is for 1,000,000)",
    )
    parser.add_argument(
        "--bi-messages",
        type=int,
        default=1_000_000,
        help="stream messages of BI's figures (default %(default)s; orders and payments on top)",
    )
    parser.add_argument(
        "--http-processes",
        type=int,
        default=os.cpu_count() or 1,
        help="`gcp serve --only http` processes sharing the port (default: one a core, "
        "%(default)s here)",
    )
    parser.add_argument(
        "--http-duration",
        type=float,
        default=15.0,
        help="seconds of GET /certificates/next (default %(default)s)",
    )
    arguments = parser.parse_args(argv)
    if arguments.messages < 1000 or arguments.naive_messages < 100:
        parser.error("--messages must be at least 1000 and --naive-messages at least 100")
    return arguments


def _say(text: str) -> None:
    print(text, flush=True)


def _environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "eventsourcing": version("eventsourcing"),
        "psycopg": version("psycopg"),
        "confluent_kafka": version("confluent-kafka"),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    figures: dict[str, Any] = _environment()
    if arguments.bi_only:
        return _bi_and_report(arguments, figures, time.monotonic(), with_bi=True)
    if not arguments.http_only:
        figures["messages"] = arguments.messages
    started = time.monotonic()
    # Outside the temporary directory, so that it survives a failure (warnings and errors of
    # the consumer and relay processes only).
    log_file = Path(tempfile.gettempdir()) / f"gcp-bench-{os.getpid()}.log"
    failures: tuple[tuple[type[Exception], str], ...] = (
        (pipeline.PipelineFailed, "the pipeline failed"),
        (http_bench.HttpFailed, "the HTTP part failed"),
        (soak.SoakFailed, "the soak failed"),
        (e2e.EndToEndFailed, "the end-to-end part failed"),
    )
    try:
        with (
            tempfile.TemporaryDirectory(prefix="gcp-bench-") as temp,
            store.fresh_database(arguments.postgres) as database,
        ):
            figures.update(_parts(arguments, database, Path(temp), log_file))
    except store.PostgresUnavailable as error:
        _say(f"bench: {error}")
        return 2
    except tuple(kind for kind, _ in failures) as error:
        said = next(what for kind, what in failures if isinstance(error, kind))
        _say(f"bench: {said}: {error} (log: {log_file})")
        return 1
    if "pipeline_msgs_per_s" in figures:
        _ratios(figures)
    return _bi_and_report(arguments, figures, started, with_bi=_whole(arguments))


def _whole(a: argparse.Namespace) -> bool:
    """Whether every part is asked for (no --*-only, no --no-http)."""
    return not (a.http_only or a.no_http or a.e2e_only or a.startup_only or a.soak_only)


def _parts(
    arguments: argparse.Namespace, database: str, var_dir: Path, log_path: Path
) -> dict[str, Any]:
    """The figures of the parts the arguments ask for (all but BI's by default)."""
    key = store.new_cipher_key()
    a = arguments
    figures: dict[str, Any] = {}
    whole = _whole(a)
    if whole or a.no_http:
        figures.update(_naive(a, database, var_dir, key))
        figures.update(_pipeline(a, database, var_dir, key, log_path))
        figures.update(_ceiling(figures["pipeline_events_stored"], database, var_dir, key))
    if whole or a.http_only:
        figures.update(_http(a, database, var_dir, key, log_path))
    if whole or a.e2e_only:
        figures.update(_e2e(database, var_dir, key, log_path))
    if whole or a.startup_only:
        figures.update(_startup(database, var_dir, key, log_path))
    if whole or a.soak_only:
        figures.update(_soak(a, database, var_dir, key, log_path))
    return figures


def _bi_and_report(
    arguments: argparse.Namespace, figures: dict[str, Any], started: float, *, with_bi: bool
) -> int:
    if with_bi:
        code = _bi(arguments, figures)
        if code:
            return code
    figures["total_elapsed_s"] = time.monotonic() - started
    _report(figures)
    if arguments.json:
        arguments.json.parent.mkdir(parents=True, exist_ok=True)
        arguments.json.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
        _say(f"figures written to {arguments.json}")
    return 0


def _bi(arguments: argparse.Namespace, figures: dict[str, Any]) -> int:
    try:
        with tempfile.TemporaryDirectory(prefix="gcp-bench-bi-") as temp:
            figures.update(bi.run(arguments.bi_messages, Path(temp), _say))
    except bi.BiFailed as error:
        _say(f"bench: BI failed: {error}")
        return 1
    return 0


def _ratios(figures: dict[str, Any]) -> None:
    figures["pipeline_over_naive"] = figures["pipeline_msgs_per_s"] / figures["naive_msgs_per_s"]
    figures["pipeline_over_ceiling"] = (
        figures["pipeline_events_per_s"] / figures["ceiling_events_per_s"]
    )
    figures["pipeline_over_ceiling_definition"] = (
        "pipeline events stored per second / ceiling events stored per second"
    )
    figures["events_stored"] = figures["pipeline_events_stored"]
    figures["published"] = figures["pipeline_published"]
    figures["duplicates"] = figures["pipeline_duplicates"]
    figures["dead_letters"] = figures["pipeline_dead_letters"]


@contextmanager
def _app(database: str, schema: str, var_dir: Path, key: str) -> Iterator[GiftCertificates]:
    """An application on a schema of its own in the run's database, closed afterwards."""
    store.create_schema(database, schema)
    app = build_application(store.settings_for(database, schema, var_dir, key))
    try:
        yield app
    finally:
        app.close()


def _naive(arguments: argparse.Namespace, database: str, var_dir: Path, key: str) -> dict[str, Any]:
    count = arguments.naive_messages
    with _app(database, "naive", var_dir, key) as app:
        _say(f"naive: reserving {workload.certificates_needed(count)} certificates ...")
        certificates = store.reserved_certificates(app, workload.certificates_needed(count))
        records = workload.generate(
            certificates,
            count,
            lag=max(count // 10, 50),
            notification_ids=app.notification_ids,
        )
        _say(f"naive: {len(records)} messages, one get / command / save each ...")
        figures = naive.run(app, records)
    _say(f"naive: {figures['naive_msgs_per_s']:,.0f} msgs/s")
    return figures


def _pipeline(
    arguments: argparse.Namespace, database: str, var_dir: Path, key: str, log_path: Path
) -> dict[str, Any]:
    count = arguments.messages
    settings = store.settings_for(database, "pipeline", var_dir, key)
    with _app(database, "pipeline", var_dir, key) as app:
        needed = workload.certificates_needed(count)
        _say(f"pipeline: creating and reserving {needed} certificates (not timed) ...")
        certificates = store.reserved_certificates(app, needed)
        # A smaller run keeps the same shape: the lead stays well under the lag.
        lead = min(arguments.lead, max(count // 10, 1000))
        lag = max(PIPELINE_LAG * lead // PIPELINE_LEAD, lead * 2)
        records = workload.generate(
            certificates, count, lag=lag, notification_ids=app.notification_ids
        )
        figures: dict[str, Any] = {f"mix_{k}": v for k, v in workload.mix(records).items()}
        _say(
            f"pipeline: {len(records)} messages through Kafka (mock cluster), the consumer, "
            "PostgreSQL and the relay ..."
        )
        figures.update(
            pipeline.run(
                app,
                settings,
                records,
                lead=lead,
                log_path=log_path,
                batch_size=arguments.batch_size,
                consumers=arguments.consumers,
            )
        )
    figures["pipeline_log"] = str(log_path)
    _say(f"pipeline: {figures['pipeline_msgs_per_s']:,.0f} msgs/s")
    return figures


def _ceiling(events: int, database: str, var_dir: Path, key: str) -> dict[str, Any]:
    with _app(database, "ceiling", var_dir, key) as app:
        heap.settle()  # the garbage collector as the service's processes run it
        _say(f"ceiling: storing {events} events in batches ...")
        figures = ceiling.run(app, events)
    _say(f"ceiling: {figures['ceiling_events_per_s']:,.0f} events/s")
    return figures


def _http(
    arguments: argparse.Namespace, database: str, var_dir: Path, key: str, log_path: Path
) -> dict[str, Any]:
    _say(
        "http: stocking 45,000 certificates (not timed), then "
        f"{arguments.http_processes} x `gcp serve --only http` and 32 clients ..."
    )
    figures = http_bench.run(
        database,
        var_dir,
        key,
        duration=arguments.http_duration,
        processes=arguments.http_processes,
        log_path=log_path,
    )
    _say(f"http: {figures['next_per_s']:,.0f} reservations/s, {figures['get_per_s']:,.0f} gets/s")
    return figures


def _soak(
    arguments: argparse.Namespace, database: str, var_dir: Path, key: str, log_path: Path
) -> dict[str, Any]:
    _say(
        f"soak: {arguments.soak_operations:,} inbound messages through `gcp serve`, "
        "its memory sampled every second ..."
    )
    with _app(database, soak.SCHEMA, var_dir, key) as app:
        figures = soak.run(
            app, database, var_dir, key, log_path, operations=arguments.soak_operations
        )
    _say(
        f"soak: {figures['soak_operations']:,} messages in {figures['soak_elapsed_s']:.0f} s; "
        f"gcp serve peaked at {figures['serve_max_rss_mb']:.0f} MB"
    )
    return figures


def _startup(database: str, var_dir: Path, key: str, log_path: Path) -> dict[str, Any]:
    _say(
        f"startup: stocking {startup.STORED:,} certificates, then `gcp serve` to ready on them "
        "and on an empty store ..."
    )
    store.create_schema(database, "startup_empty")
    with _app(database, "startup", var_dir, key) as app:
        figures = startup.run(
            app,
            database,
            var_dir,
            key,
            log_path,
            full_schema="startup",
            empty_schema="startup_empty",
        )
    _say(
        f"startup: ready in {figures['startup_s']:.2f} s with {startup.STORED:,} certificates "
        f"({figures['startup_empty_s']:.2f} s empty), {figures['startup_rss_mb']:.0f} MB"
    )
    return figures


def _e2e(database: str, var_dir: Path, key: str, log_path: Path) -> dict[str, Any]:
    _say(
        "e2e: a broker process, `gcp serve` on PostgreSQL (its relay in a process of its own); "
        "payments produced at 200/s, then "
        "1,000/s, until their publications are read from the stream ..."
    )
    with _app(database, e2e.SCHEMA, var_dir, key) as app:
        figures = e2e.run(app, database, var_dir, key, log_path, relay_apart=True)
    _say(
        f"e2e: p50 {figures['e2e_p50_ms']:.0f} ms, p99 {figures['e2e_p99_ms']:.0f} ms at 200/s; "
        f"p99 {figures['e2e_1000_p99_ms']:.0f} ms at 1,000/s"
    )
    return figures


def _report(f: dict[str, Any]) -> None:
    _say("")
    _say(
        f"machine: {f['cpu_count']} x {f['cpu_model']}, Python {f['python']}, "
        f"eventsourcing {f['eventsourcing']}, psycopg {f['psycopg']}"
    )
    if "naive_msgs_per_s" in f:
        _report_pipeline(f)
    if "bi_ingest_msgs_per_s" in f:
        _report_bi(f)
    if "serve_max_rss_mb" in f:
        _say(
            f"(h) soak: gcp serve peaked at {f['serve_max_rss_mb']:,.0f} MB over "
            f"{f['soak_operations']:,} messages (target < 300 MB at 1,000,000); by quarter "
            + " / ".join(f"{f[f'serve_rss_q{q}_mb']:,.0f}" for q in (1, 2, 3, 4))
            + f" MB; {f['soak_per_s']:,.0f} messages/s"
        )
    if "startup_s" in f:
        _say(
            f"(g) startup: ready in {f['startup_s']:.2f} s with {f['startup_certificates']:,} "
            f"certificates stored (target <= 3 s), {f['startup_empty_s']:.2f} s on an empty "
            f"store; {f['startup_rss_mb']:,.0f} MB resident once ready"
        )
    if "next_per_s" not in f:
        return
    _say(
        f"(d) http: GET /certificates/next {f['next_per_s']:,.0f}/s "
        f"(target >= 1,500/s), p50 {f['next_p50_ms']:.1f} ms, p99 {f['next_p99_ms']:.1f} ms "
        f"(target < 25 ms), {f['next_requests']} requests, {f['next_duplicates']} duplicate ids; "
        f"GET /certificates/{{id}} {f['get_per_s']:,.0f}/s (target >= 3,000/s), p99 "
        f"{f['get_p99_ms']:.1f} ms (target < 20 ms), {f['get_requests']} requests, "
        f"{f['http_processes']} processes"
        + (
            f" (one process: {f['get_one_process_per_s']:,.0f}/s, p99 "
            f"{f['get_one_process_p99_ms']:.1f} ms)"
            if "get_one_process_per_s" in f
            else ""
        )
        + f"; {f['errors']} errors"
    )


def _report_bi(f: dict[str, Any]) -> None:
    _say(
        f"(e) bi: landing {f['bi_ingest_msgs_per_s']:,.0f} msgs/s (target >= 50,000; "
        f"{f['bi_messages']:,} messages in {f['bi_ingest_s']:.1f} s, peak RSS "
        f"{f['bi_ingest_peak_rss_mb']:,.0f} MB); marts built in {f['bi_build_s']:.1f} s "
        f"(target < 60 s; {f['bi_stream_messages']:,} stream messages, {f['bi_build_models']} "
        f"models, {f['bi_build_tests']} tests, peak RSS {f['bi_build_peak_rss_mb']:,.0f} MB)"
    )


def _report_pipeline(f: dict[str, Any]) -> None:
    _say(
        f"(a) naive:    {f['naive_msgs_per_s']:>10,.0f} msgs/s   "
        f"({f['naive_messages']} messages in {f['naive_elapsed_s']:.1f} s)"
    )
    _say(
        f"(b) pipeline: {f['pipeline_msgs_per_s']:>10,.0f} msgs/s   "
        f"({f['pipeline_messages']} messages in {f['pipeline_elapsed_s']:.1f} s; "
        f"{f['pipeline_events_per_s']:,.0f} events stored/s, "
        f"{f['pipeline_published_per_s']:,.0f} messages published/s)"
    )
    _say(
        f"(c) ceiling:  {f['ceiling_events_per_s']:>10,.0f} events/s "
        f"({f['ceiling_events']} events in {f['ceiling_elapsed_s']:.1f} s)"
    )
    _say(f"pipeline / naive:   {f['pipeline_over_naive']:.1f}x (target >= 5x)")
    _say(f"pipeline / ceiling: {f['pipeline_over_ceiling']:.2f}x events/s (target >= 0.4x)")
    _say(
        f"stored {f['events_stored']} events, published {f['published']} messages, "
        f"{f['duplicates']} duplicates, {f['dead_letters']} dead letters"
    )
    _say(
        f"consumer: {f['pipeline_consumer_cpu_s']:.1f} s of CPU in "
        f"{f['pipeline_consumer_elapsed_s']:.1f} s ({f['pipeline_consumer_gc_s']:.1f} s "
        f"collecting garbage); relay: {f['pipeline_relay_cpu_s']:.1f} s of CPU"
    )


if __name__ == "__main__":
    sys.exit(main())
