"""The store goes away and comes back (issue 12): requests are refused at once with 503 and
readiness says why while it is away, everything resumes on its own when it is back, and the
relay's wake-up signal is listened on again, not left on polling for ever. The connection runs
through a proxy the test cuts, as a PostgreSQL restart or a network cut would."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from litestar.testing import TestClient
from tests.tcp_proxy import TcpProxy

from gcp_adapters.bootstrap import build_application
from gcp_adapters.http import create_http_app, mint_token
from gcp_app.application import GiftCertificates
from gcp_app.change_signal import change_signal
from gcp_app.store_watch import StoreWatch
from gcp_domain import Cause

from .conftest import make_settings
from .http.conftest import SECRET

pytestmark = pytest.mark.postgres
ADMIN = Cause("test:admin", "setup", "setup")


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[TcpProxy]:
    parts = urlsplit(postgres_url)
    with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as running:
        yield running


@pytest.fixture
def app(tmp_path: Path, postgres_url: str, proxy: TcpProxy) -> Iterator[GiftCertificates]:
    parts = urlsplit(postgres_url)
    through_proxy = parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}").geturl()
    application = build_application(make_settings(tmp_path, through_proxy))
    yield application
    application.close()


def wait_for(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.05)
    return False


def test_the_relays_wake_up_is_listened_on_again_after_the_store_comes_back(
    app: GiftCertificates, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gcp.relay")
    app.pools.create_pool("default", cause=ADMIN)
    with change_signal(app.store) as woken:
        assert woken.wait(5)  # listening (it says so once it listens)
        woken.clear()
        app.pools.generate_certificates("default", 1, cause=ADMIN)
        assert woken.wait(5)  # a NOTIFY

        proxy.cut()
        assert wait_for(lambda: "polling until it works again" in caplog.text, 5)
        time.sleep(1)
        proxy.restore()
        assert wait_for(lambda: "listening for new changes again" in caplog.text, 15)
        woken.clear()
        app.pools.generate_certificates("default", 1, cause=ADMIN)

        assert woken.wait(5), "after the outage the signal stayed silent: polling for ever"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]


def test_while_the_store_is_away_requests_get_503_at_once_and_all_resumes_after(
    app: GiftCertificates, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12: with PostgreSQL stopped, requests were held up to 28.7 s and then answered
    200, readiness never said 503, and nothing was logged."""
    caplog.set_level(logging.INFO, logger="gcp.store")
    admin = {"Authorization": f"Bearer {mint_token(SECRET, 'ops', ['admin'], timedelta(hours=1))}"}
    watch = StoreWatch(app.store, interval=0.2)
    watch.start()
    try:
        with TestClient(create_http_app(app, jwt_secret=SECRET, store_watch=watch)) as client:
            generated = client.post("/pools/default/certificates", json={"count": 2}, headers=admin)
            assert generated.status_code == 201
            assert client.get("/health/ready").status_code == 200

            proxy.cut()
            assert wait_for(lambda: watch.unavailable() is not None, 5)
            started = time.monotonic()
            refused = client.get("/pools/default", headers=admin)
            answered_in = time.monotonic() - started
            ready = client.get("/health/ready")

            assert refused.status_code == 503
            assert refused.json()["type"] == "urn:gcp:problem:store-unavailable"
            assert refused.headers["retry-after"] == "5"
            assert "127.0.0.1" not in refused.text  # the store's address stays in the log
            assert answered_in < 1.0
            assert ready.status_code == 503
            assert "does not answer" in ready.json()["reasons"]["store"]

            proxy.restore()
            assert wait_for(lambda: watch.unavailable() is None, 10)
            assert client.get("/pools/default", headers=admin).json()["available"] == 2
            again = client.post("/pools/default/certificates", json={"count": 1}, headers=admin)
            assert again.status_code == 201
            assert client.get("/health/ready").status_code == 200
    finally:
        watch.close()
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "gcp.store"]
    assert [level for level, _ in said] == ["WARNING", "INFO"], said
    assert "answers again" in said[1][1]
