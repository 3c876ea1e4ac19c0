"""The `http` part of the service: uvicorn on a thread, answering, stopped with the service."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx

from gcp_adapters.bootstrap import build_application, build_service, configured_jwt_secret
from gcp_adapters.http import mint_token
from gcp_adapters.service import HTTP
from gcp_app.settings import Settings

SECRET = "serving-secret-0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdef"


def test_the_http_part_serves_and_stops_with_the_service(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "GCP_VAR_DIR": str(tmp_path / "var"),
            "GCP_DATABASE_URL": "memory:",
            "GCP_HTTP_PORT": "0",
        }
    )
    app = build_application(settings)
    service = build_service(app, [HTTP], jwt_secret=SECRET)
    try:
        service.start()
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
    finally:
        service.stop(timeout=10)
        app.close()
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
