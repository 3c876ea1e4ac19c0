"""`gcp serve` on the embedded broker leaves its address for local tools, and takes it away."""

from __future__ import annotations

from pathlib import Path

from gcp_adapters.bootstrap import build_application, build_service
from gcp_adapters.kafka.embedded import ADDRESS_FILE
from gcp_app.settings import Settings


def test_the_embedded_broker_address_lives_as_long_as_the_service(tmp_path: Path) -> None:
    settings = Settings.from_env({"GCP_VAR_DIR": str(tmp_path), "GCP_DATABASE_URL": "memory:"})
    app = build_application(settings)
    service = build_service(app, ("consumers", "relay"))
    try:
        assert service.broker is not None
        assert (tmp_path / ADDRESS_FILE).read_text().strip() == service.bootstrap_servers
    finally:
        service.stop()
        app.close()
    assert not (tmp_path / ADDRESS_FILE).exists()
