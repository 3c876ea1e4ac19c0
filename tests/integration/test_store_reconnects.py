"""A PostgreSQL restart (or a killed backend) costs the service nothing but a retry.

The pool does not ping a connection before each use (a round trip per transaction): a broken
pooled connection fails its statement, the pool discards it, and the library's retry (on
OperationalError and InterfaceError) runs the statement again on a fresh connection.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from gcp_adapters.bootstrap import build_application
from gcp_app.reservation_desk import ReservationRequest
from gcp_domain import Cause

from .conftest import make_settings

pytestmark = pytest.mark.postgres
ADMIN = Cause("test:admin", "setup", "setup")
WEB = Cause("http:WEB", "request", "WEB-1")


# libpq names the app's connections after PGAPPNAME, so that only they are killed (other tests,
# or another suite on the same server, keep theirs).
APP_NAME = "gcp-reconnect-test"


def kill_app_backends(url: str) -> int:
    """Terminates the app's connections; returns how many."""
    with psycopg.connect(
        url.split("?", maxsplit=1)[0], autocommit=True, application_name="gcp-test-killer"
    ) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid()",
            (APP_NAME,),
        ).fetchall()
    return len(rows)


def test_reads_and_writes_survive_killed_connections(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGAPPNAME", APP_NAME)
    app = build_application(make_settings(tmp_path, postgres_url, GCP_DB_POOL_SIZE="4"))
    try:
        app.pools.generate_certificates("default", 20, cause=ADMIN)
        first = app.reservations.reserve_next("default", channel="WEB", cause=WEB)
        assert kill_app_backends(postgres_url) >= 1  # the app's pooled connections

        assert app.get_certificate(first.certificate_id).version == 2
        second = app.reservation_desk.reserve(
            ReservationRequest(pool="default", channel="WEB", cause=WEB)
        )
        assert second.certificate_id != first.certificate_id
        assert kill_app_backends(postgres_url) >= 1
        third = app.reservations.reserve_next("default", channel="WEB", cause=WEB)
        assert app.pool_status("default").reserved == 3
        assert len({first.certificate_id, second.certificate_id, third.certificate_id}) == 3
    finally:
        app.close()
