"""The `http` part of the service: uvicorn on a thread, answering, stopped with the service."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
from tests.cli_runs import free_port

from gcp_adapters.bootstrap import build_application, build_service, configured_jwt_secret
from gcp_adapters.http import mint_token
from gcp_adapters.service import HTTP, Service
from gcp_app.settings import Settings
from gcp_domain.cause import Cause

from .conftest import running_service

SECRET = "serving-secret-0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdef"


def test_the_http_part_serves_and_stops_with_the_service(tmp_path: Path) -> None:
    with running_service(tmp_path, [HTTP], SECRET) as service:
        assert service.http_url is not None
        assert service.http_url.startswith("http://127.0.0.1:")
        assert not service.http_url.endswith(":0")
        live = httpx.get(f"{service.http_url}/health/live", timeout=5)
        token = mint_token(SECRET, "ops", ["admin"], timedelta(minutes=5))
        created = httpx.post(
            f"{service.http_url}/pools/default/certificates",
            json={"count": 3},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert live.status_code == 200
        assert created.status_code == 201
        assert created.headers["x-request-id"]
    assert not any(thread.is_alive() for thread in service._threads)


def test_the_jwt_secret_is_generated_once_with_owner_only_permissions(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"GCP_VAR_DIR": str(tmp_path / "var"), "GCP_DATABASE_URL": "memory:"}
    )
    first = configured_jwt_secret(settings)
    again = configured_jwt_secret(settings)
    path = tmp_path / "var" / "jwt.secret"
    assert first == again
    assert len(first) >= 32
    assert path.stat().st_mode & 0o777 == 0o600


@contextmanager
def _two_http_services(tmp_path: Path, *, shared: bool) -> Iterator[tuple[Service, Service]]:
    """Two `gcp serve --only http` on one port, each on a memory store of its own stocked
    with 3 and 5 certificates (so that an answer tells which process gave it), started."""
    port = free_port()
    apps, services = [], []
    try:
        for name, stock in (("first", 3), ("second", 5)):
            settings = Settings.from_env(
                {
                    "GCP_VAR_DIR": str(tmp_path / name),
                    "GCP_DATABASE_URL": "memory:",
                    "GCP_HTTP_PORT": str(port),
                    "GCP_HTTP_REUSE_PORT": "true" if shared else "false",
                }
            )
            app = build_application(settings)
            apps.append(app)
            app.pools.generate_certificates("default", stock, cause=Cause("admin:ops", name, name))
            services.append(build_service(app, [HTTP], jwt_secret=SECRET))
            services[-1].start()
        yield services[0], services[1]
    finally:
        for service in services:
            service.stop(timeout=10)
        for app in apps:
            app.close()


def test_http_processes_share_a_port_when_told_to(tmp_path: Path) -> None:
    """GCP_HTTP_REUSE_PORT: the kernel spreads new connections over every process on the
    port, and the others go on serving when one stops."""
    token = mint_token(SECRET, "ops", ["admin"], timedelta(minutes=5))
    with _two_http_services(tmp_path, shared=True) as (first, second):

        def available() -> int:  # a new connection each time, so the kernel picks again
            assert first.http is not None
            answer = httpx.get(
                f"http://127.0.0.1:{first.http.port}/pools/default",
                headers={"Authorization": f"Bearer {token}"},
                timeout=5,
            )
            assert answer.status_code == 200
            return int(answer.json()["available"])

        assert not first.stopping.is_set()
        assert not second.stopping.is_set()
        assert first.http is not None
        listening = first.http.server.servers[0].sockets[0]
        # Accepted connections inherit it: without it a response waited for a delayed ACK.
        assert listening.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert {available() for _ in range(60)} == {3, 5}
        first.stop(timeout=10)
        assert {available() for _ in range(10)} == {5}


def test_a_second_process_cannot_take_a_port_that_is_not_shared(tmp_path: Path) -> None:
    with _two_http_services(tmp_path, shared=False) as (first, second):
        assert not first.stopping.is_set()
        assert second.stopping.is_set()  # it could not bind: the service stops
