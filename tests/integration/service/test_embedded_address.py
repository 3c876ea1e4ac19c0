"""`gcp serve` on the embedded broker leaves its address for local tools, and takes it away;
the other commands (a part alone, republish, the demo) find the broker there."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from gcp_adapters.bootstrap import build_application, build_service
from gcp_adapters.kafka.embedded import ADDRESS_FILE, running_address
from gcp_app.errors import ConfigurationError
from gcp_app.settings import Settings


def _settings(var: Path) -> Settings:
    return Settings.from_env({"GCP_VAR_DIR": str(var), "GCP_DATABASE_URL": "memory:"})


def test_the_embedded_broker_address_lives_as_long_as_the_service(tmp_path: Path) -> None:
    app = build_application(_settings(tmp_path))
    service = build_service(app, ("consumers", "relay"))
    try:
        assert service.broker is not None
        assert (tmp_path / ADDRESS_FILE).read_text().strip() == service.bootstrap_servers
        assert running_address(tmp_path) == service.bootstrap_servers
    finally:
        service.stop()
        app.close()
    assert not (tmp_path / ADDRESS_FILE).exists()
    assert running_address(tmp_path) is None


def test_a_kafka_part_alone_joins_the_running_embedded_broker(tmp_path: Path) -> None:
    app = build_application(_settings(tmp_path))
    serving = build_service(app, ("consumers", "relay"))
    try:
        alone = build_service(app, ("relay",))
        try:
            assert alone.broker is None
            assert alone.bootstrap_servers == serving.bootstrap_servers
        finally:
            alone.stop()
    finally:
        serving.stop()
        app.close()


def test_a_kafka_part_alone_without_a_broker_says_what_it_needs(tmp_path: Path) -> None:
    app = build_application(_settings(tmp_path))
    try:
        with pytest.raises(
            ConfigurationError, match="GCP_KAFKA_BOOTSTRAP_SERVERS, or a `gcp serve`"
        ):
            build_service(app, ("consumers",))
    finally:
        app.close()


def test_an_address_left_by_a_killed_service_does_not_count(tmp_path: Path) -> None:
    with socket.socket() as closed:  # a port that was free a moment ago: nobody listens there
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    (tmp_path / ADDRESS_FILE).write_text(f"127.0.0.1:{port}\n")
    assert running_address(tmp_path) is None
    (tmp_path / ADDRESS_FILE).write_text("not an address\n")
    assert running_address(tmp_path) is None
