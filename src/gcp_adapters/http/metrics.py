"""Prometheus metrics at `GET /metrics` (no token; the text exposition format).

Each app has its own `CollectorRegistry` (never the process-global one), so two apps in one
process (tests, say) do not collide. It holds:

- `gcp_http_request_duration_seconds{method, route, status}`: a histogram of every routed
  request, labelled with the route's TEMPLATE (`/certificates/{id}`, the contract's and the
  OpenAPI document's path), never the raw path, so ids and numbers cannot blow up the label
  space or reach the metrics. A request no route matches (404, 405) is not timed here.
- read on every scrape, from the application and the `MetricsSources` the service gives:
  pool levels, and when this process runs them, the consumer's counters and lag and the
  relay's position and counters.

A source that fails on a scrape is logged and left out of that scrape; the rest is served.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

import attrs
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from gcp_adapters.http.auth import ANONYMOUS

if TYPE_CHECKING:
    from gcp_adapters.kafka.consumer_metrics import ConsumerStats
    from gcp_adapters.kafka.relay import RelayStats
    from gcp_app.application import GiftCertificates

logger = logging.getLogger("gcp.http.metrics")

# Request latencies are mostly milliseconds; pool generation can take seconds.
LATENCY_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
# The classic text format every Prometheus reads (Litestar appends the charset).
CONTENT_TYPE: Final = "text/plain; version=0.0.4"
POOL_LEVELS: Final = ("available", "reserved", "issued", "cancelled")


@attrs.frozen
class MetricsSources:
    """What the service runs besides HTTP: each a function returning a consistent snapshot
    (`InboundConsumer.metrics.snapshot`, `Relay.stats`), None when this process runs none."""

    consumer: Callable[[], ConsumerStats] | None = None
    relay: Callable[[], RelayStats] | None = None


class OperationsCollector(Collector):
    """Reads pool levels, consumer and relay counters on each scrape."""

    def __init__(self, gcp: GiftCertificates, sources: MetricsSources) -> None:
        self.gcp = gcp
        self.sources = sources

    def describe(self) -> list[Metric]:
        return []  # collected on scrape only; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        for part, read in (
            ("pools", self._pools),
            ("consumer", self._consumer),
            ("relay", self._relay),
        ):
            try:
                metrics = list(read())
            except Exception:
                logger.exception("metrics: could not read the %s", part)
                continue
            yield from metrics

    def _pools(self) -> Iterator[Metric]:
        levels = GaugeMetricFamily(
            "gcp_pool_certificates", "Certificates of a pool by level", labels=["pool", "level"]
        )
        watermark = GaugeMetricFamily(
            "gcp_pool_low_watermark", "Below this many available certificates a pool is low",
            labels=["pool"],
        )  # fmt: skip
        for name in self.gcp.pool_names():
            status = self.gcp.pool_status(name)
            for level in POOL_LEVELS:
                levels.add_metric([name, level], getattr(status, level))
            watermark.add_metric([name], status.low_watermark)
        yield levels
        yield watermark

    def _consumer(self) -> Iterator[Metric]:
        if self.sources.consumer is None:
            return
        stats = self.sources.consumer()
        yield _counter("gcp_consumer_consumed", "Inbound records read", stats.consumed)
        outcomes = CounterMetricFamily(
            "gcp_consumer_records", "Inbound records handled, by outcome", labels=["outcome"]
        )
        for outcome, count in (
            ("applied", stats.applied),
            ("ignored", stats.ignored),
            ("duplicate", stats.duplicates),
            ("already_consumed", stats.already_consumed),
            ("dead_lettered", stats.dead_lettered),
        ):
            outcomes.add_metric([outcome], count)
        yield outcomes
        yield _counter(
            "gcp_consumer_dead_lettered", "Inbound records sent to the DLQ", stats.dead_lettered
        )
        yield _counter("gcp_consumer_failed_batches", "Batches that failed", stats.failed_batches)
        yield _counter("gcp_consumer_kafka_errors", "Kafka client errors", stats.kafka_errors)
        yield _counter(
            "gcp_consumer_conflicts",
            "Batch attempts redone after a concurrent writer",
            stats.conflicts,
        )
        lag = GaugeMetricFamily(
            "gcp_consumer_lag",
            "High watermark minus the next offset to read, per partition",
            labels=["topic", "partition"],
        )
        for (topic, partition), value in sorted(stats.lag.items()):
            lag.add_metric([topic, str(partition)], value)
        yield lag

    def _relay(self) -> Iterator[Metric]:
        if self.sources.relay is None:
            return
        stats = self.sources.relay()
        yield GaugeMetricFamily(
            "gcp_relay_position",
            "Every outbox notification up to here is published",
            value=stats.last_position,
        )
        yield _counter("gcp_relay_published", "Messages acknowledged by Kafka", stats.published)
        yield _counter(
            "gcp_relay_delivery_errors", "Failed delivery reports and fatal producer errors",
            stats.delivery_errors,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "gcp_relay_in_flight", "Messages produced, not yet acknowledged", value=stats.in_flight
        )
        yield _counter(
            "gcp_relay_producer_restarts", "Producers replaced after a failure",
            stats.producer_restarts,
        )  # fmt: skip
        yield _counter(
            "gcp_relay_parked", "Messages the brokers refused for good, parked (gcp stream parked)",
            stats.parked,
        )  # fmt: skip


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


class HttpMetrics:
    """The registry of one app and the middleware that times its requests."""

    def __init__(self, gcp: GiftCertificates, sources: MetricsSources | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        # The process's own figures (process_resident_memory_bytes, CPU, open files): what an
        # operator alerts on for memory (docs/operations.md).
        ProcessCollector(registry=self.registry)
        self.latency = Histogram(
            "gcp_http_request_duration_seconds",
            "HTTP request latency by route template, method and status",
            labelnames=("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(OperationsCollector(gcp, sources or MetricsSources()))
        # The histogram's child per label values: `labels()` checks and locks on every call.
        self._series: dict[tuple[str, str, int], Histogram] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        series = self._series.get((method, route, status))
        if series is None:
            series = self.latency.labels(method=method, route=route, status=str(status))
            self._series[method, route, status] = series
        series.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def middleware(self) -> DefineMiddleware:
        return DefineMiddleware(RequestTiming, metrics=self)


class RequestTiming:
    """Times each routed HTTP request into `HttpMetrics.latency`. A plain ASGI middleware:
    Litestar's `ASGIMiddleware` wrapper cost more per request than the timing itself."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        next_app = self.app
        started = time.perf_counter()
        status = 500

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await next_app(scope, receive, timed_send)
        except HTTPException as error:  # refused before the handler (401, ...): an answer
            status = error.status_code
            raise
        finally:
            route = str(scope.get("path_template") or "unmatched")
            method = str(scope.get("method", "GET"))
            self.metrics.observe(method, route, status, time.perf_counter() - started)


OPEN: Final[dict[str, Any]] = {
    "security": ANONYMOUS,
    "opt": {"exclude_from_auth": True},
    "include_in_schema": False,
}


class MetricsController(Controller):
    path = "/metrics"

    @get("/", sync_to_thread=True, summary="Prometheus metrics", **OPEN)
    def metrics(self, http_metrics: NamedDependency[HttpMetrics]) -> Response[bytes]:
        return Response(http_metrics.exposition(), media_type=CONTENT_TYPE)
