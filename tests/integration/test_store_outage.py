"""The store goes away and comes back (issue 12): the relay's wake-up signal is listened on
again, not left on polling for ever. The connection runs through a proxy the test cuts, as a
PostgreSQL restart or a network cut would."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gcp_adapters.bootstrap import build_application
from gcp_app.application import GiftCertificates
from gcp_app.change_signal import change_signal
from gcp_domain import Cause

from ..tcp_proxy import TcpProxy
from .conftest import make_settings

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
