"""Operations: /metrics (Prometheus), /health/ready with its checks, JSON log lines."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from gcp_adapters.http.metrics import MetricsSources
from gcp_adapters.kafka.consumer_metrics import ConsumerStats
from gcp_adapters.kafka.probe import KafkaProbe
from gcp_adapters.kafka.relay import RelayStats
from gcp_adapters.logs import JsonFormatter, install_json_logging, request_id_var
from gcp_adapters.service import PARTS

from .conftest import SECRET, running_service

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient[Any]) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


# ---------------------------------------------------------------------- metrics


def test_metrics_need_no_token_and_time_requests_by_route_template(
    client: TestClient[Any], world: Any, bearer: Any
) -> None:
    path = f"/certificates/{world.certificate_id}"
    assert client.get(path, headers=bearer("support")).status_code == 200
    assert client.get(path).status_code == 401
    response = client.get("/metrics")
    samples = scrape(client)
    route = "/certificates/{id}"
    count = "gcp_http_request_duration_seconds_count"
    assert value(samples, count, method="GET", route=route, status="200") == 1
    assert value(samples, count, method="GET", route=route, status="401") == 1
    # Never the raw path: no id in any label.
    assert str(world.certificate_id) not in response.text
    assert world.number not in response.text


def test_metrics_show_the_process_memory_an_operator_alerts_on(client: TestClient[Any]) -> None:
    samples = scrape(client)
    resident = value(samples, "process_resident_memory_bytes")
    assert 10 * 2**20 < resident < 4 * 2**30  # a Python process with its libraries, in bytes


def test_metrics_show_pool_levels(client: TestClient[Any], world: Any, bearer: Any) -> None:
    samples = scrape(client)
    levels = {
        level: value(samples, "gcp_pool_certificates", pool="default", level=level)
        for level in ("available", "reserved", "issued", "cancelled")
    }
    assert levels == {"available": 4, "reserved": 0, "issued": 1, "cancelled": 0}
    assert value(samples, "gcp_pool_low_watermark", pool="default") >= 0


def test_metrics_show_consumer_and_relay_sources(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    consumer = ConsumerStats(
        consumed=12,
        applied=7,
        ignored=2,
        duplicates=1,
        already_consumed=0,
        dead_lettered=2,
        batches=3,
        last_batch_size=4,
        failed_batches=0,
        kafka_errors=1,
        lag={("All_Payments", 0): 5, ("All_SalesOrder", 2): 0},
        conflicts=3,
    )
    relay = RelayStats(
        published=40,
        delivery_errors=0,
        last_position=42,
        in_flight=2,
        producer_restarts=0,
        last_error=None,
    )
    client = make_client(metrics=MetricsSources(consumer=lambda: consumer, relay=lambda: relay))
    samples = scrape(client)
    assert value(samples, "gcp_consumer_lag", topic="All_Payments", partition="0") == 5
    assert value(samples, "gcp_consumer_lag", topic="All_SalesOrder", partition="2") == 0
    assert value(samples, "gcp_consumer_consumed_total") == 12
    assert value(samples, "gcp_consumer_records_total", outcome="applied") == 7
    assert value(samples, "gcp_consumer_records_total", outcome="dead_lettered") == 2
    assert value(samples, "gcp_consumer_dead_lettered_total") == 2
    assert value(samples, "gcp_consumer_conflicts_total") == 3
    assert value(samples, "gcp_relay_position") == 42
    assert value(samples, "gcp_relay_published_total") == 40
    assert value(samples, "gcp_relay_in_flight") == 2


def test_without_sources_there_are_no_kafka_metrics(client: TestClient[Any]) -> None:
    names = {name for name, _ in scrape(client)}
    assert not {name for name in names if name.startswith(("gcp_consumer", "gcp_relay"))}


def test_a_failing_source_leaves_the_rest_of_the_scrape(
    make_client: Callable[..., TestClient[Any]], caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> ConsumerStats:
        raise RuntimeError("consumer gone")

    client = make_client(metrics=MetricsSources(consumer=broken))
    with caplog.at_level(logging.ERROR):
        samples = scrape(client)
    assert value(samples, "gcp_pool_certificates", pool="default", level="available") == 5
    assert "consumer" in caplog.text


def test_two_apps_have_their_own_registries(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    first, second = make_client(), make_client()
    first.get("/health/live")
    live = frozenset({"method": "GET", "route": "/health/live", "status": "200"}.items())
    assert scrape(first)[("gcp_http_request_duration_seconds_count", live)] == 1
    assert ("gcp_http_request_duration_seconds_count", live) not in scrape(second)


# ---------------------------------------------------------------------- readiness


def test_ready_with_a_store(client: TestClient[Any]) -> None:
    response = client.get("/health/ready")
    assert (response.status_code, response.json()) == (
        200,
        {"status": "ok", "checks": {"store": "ok"}},
    )


def test_ready_is_503_naming_the_failing_check(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    def store_down() -> None:
        raise ConnectionError("postgres at 10.1.2.3 refused")

    client = make_client(readiness={"store": store_down, "kafka": lambda: None})
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"] == {"store": "failing", "kafka": "ok"}
    assert "10.1.2.3" not in response.text


def test_kafka_probe_raises_when_no_broker_answers() -> None:
    probe = KafkaProbe("127.0.0.1:1", timeout=0.3)
    with pytest.raises(Exception):  # noqa: B017, PT011 (confluent_kafka's KafkaException)
        probe()


# ---------------------------------------------------------------------- JSON logs


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    logger = logging.getLogger("gcp.test")
    return logger.makeRecord(
        "gcp.test", logging.WARNING, __file__, 1, message, args, None, extra=extra
    )


def test_the_json_formatter_writes_one_object_with_the_request_id() -> None:
    token = request_id_var.set("trace:abc-1")
    try:
        line = JsonFormatter().format(record("pool %s is low", "default", pool="default"))
    finally:
        request_id_var.reset(token)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "gcp.test"
    assert entry["message"] == "pool default is low"
    assert entry["requestId"] == "trace:abc-1"
    assert entry["pool"] == "default"
    assert entry["time"].endswith("Z")


def test_the_json_formatter_has_no_request_id_outside_a_request() -> None:
    entry = json.loads(JsonFormatter().format(record("started")))
    assert "requestId" not in entry


def test_exceptions_are_one_line_too() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logger = logging.getLogger("gcp.test")
        line = JsonFormatter().format(
            logger.makeRecord("gcp.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
        )
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]


def test_log_lines_of_a_request_carry_its_id(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    def logging_check() -> None:
        logging.getLogger("gcp.test.check").warning("checking")

    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    install_json_logging(logging.INFO, stream, force=True)
    try:
        client = make_client(readiness={"store": logging_check})
        client.get("/health/ready", headers={"X-Request-Id": "ops-42"})
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    checking = [entry for entry in entries if entry["message"] == "checking"]
    assert checking
    assert checking[0]["requestId"] == "ops-42"


def test_installing_leaves_configured_logging_alone_unless_forced() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    assert before  # pytest's own handlers
    install_json_logging(logging.INFO, io.StringIO())
    assert root.handlers == before


# ---------------------------------------------------------------------- the whole service


def test_the_service_checks_kafka_and_exposes_its_consumer_and_relay(tmp_path: Path) -> None:
    with running_service(tmp_path, PARTS, SECRET) as service:
        assert service.http_url is not None
        ready = httpx.get(f"{service.http_url}/health/ready", timeout=10)
        metrics = httpx.get(f"{service.http_url}/metrics", timeout=10)
    assert (ready.status_code, ready.json()["checks"]) == (
        200,
        {"store": "ok", "kafka": "ok", "consumer": "ok", "relay": "ok"},
    )
    assert "gcp_consumer_consumed_total" in metrics.text
    assert "gcp_consumer_dead_lettered_total" in metrics.text
    assert "gcp_relay_position" in metrics.text
