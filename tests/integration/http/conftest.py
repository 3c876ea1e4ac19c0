"""The HTTP API through Litestar's TestClient, on an in-memory store by default.

`gcp` is the application (8-digit CVCs, so that a search for a CVC in a log or a body cannot
match by chance), `client` the HTTP API over it, `bearer(*roles)` the headers of a token minted
for those roles (subject `dev-<roles>`). `world` is a certificate issued with an open
notification request, the state most endpoints need; `issue()` makes another;
`problem(response, status, slug)` checks an RFC 9457 answer and returns its body.

The store is memory unless a test parametrizes `store_url` (indirect): `MEMORY_AND_POSTGRES`,
`SQLITE_AND_POSTGRES`. `running_service` starts the whole service on a free port.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import attrs
import httpx
import pytest
from litestar.testing import TestClient
from tests.integration.conftest import store_url_for
from tests.issuing import issued, open_notification

from gcp_adapters.bootstrap import build_application, build_service
from gcp_adapters.http import create_http_app, mint_token
from gcp_adapters.service import Service
from gcp_app.application import GiftCertificates
from gcp_app.settings import Settings
from gcp_domain import Cause

SECRET = "test-jwt-secret-0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdef"
ROLES = ("channel", "crm", "support", "admin")
POOL = "default"
SETUP = Cause("test:setup", "setup", "setup")

Headers = dict[str, str]
Bearer = Callable[..., Headers]  # the `bearer` fixture
Problem = Callable[..., dict[str, Any]]  # the `problem` fixture

# For the tests to run on other stores than memory (`store_url`, indirect).
MEMORY_AND_POSTGRES = pytest.mark.parametrize(
    "store_url", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
SQLITE_AND_POSTGRES = pytest.mark.parametrize(
    "store_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def token_for(*roles: str, sub: str | None = None, secret: str = SECRET) -> str:
    return mint_token(secret, sub or f"dev-{'-'.join(roles) or 'none'}", roles, timedelta(hours=1))


def bearer(*roles: str, sub: str | None = None) -> Headers:
    return {"Authorization": f"Bearer {token_for(*roles, sub=sub)}"}


class TestClock:
    """The system clock, until a test fixes it at a moment or moves it on."""

    def __init__(self) -> None:
        self.moment: datetime | None = None
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return (self.moment or datetime.now(UTC)) + self.offset

    def fix(self, moment: datetime) -> None:
        self.moment = moment

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


def open_app(tmp_path: Path, database_url: str = "memory:") -> GiftCertificates:
    settings = Settings.from_env(
        {
            "GCP_VAR_DIR": str(tmp_path / "var"),
            "GCP_DATABASE_URL": database_url,
            "GCP_CVC_DIGITS": "8",
        }
    )
    return build_application(settings, clock=TestClock())


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """memory:, unless the test parametrizes store_url with "sqlite" or "postgres" ("memory:"
    also means memory: test_cvc_rules' ids name it so)."""
    kind: str = getattr(request, "param", "memory")
    return store_url_for("memory" if kind == "memory:" else kind, request, tmp_path)


@pytest.fixture
def gcp(tmp_path: Path, store_url: str) -> Iterator[GiftCertificates]:
    application = open_app(tmp_path, store_url)
    application.pools.generate_certificates(POOL, 5, cause=SETUP)
    yield application
    application.close()


@pytest.fixture
def client(gcp: GiftCertificates) -> Iterator[TestClient[Any]]:
    with TestClient(create_http_app(gcp, jwt_secret=SECRET)) as test_client:
        yield test_client


@attrs.frozen
class Issued:
    certificate_id: UUID
    number: str
    notification_id: str


def issue_one(gcp: GiftCertificates, order_id: str = "WEB-1") -> Issued:
    certificate_id = issued(gcp, order_id, amount="5000.00", cause=SETUP)
    notification_id = open_notification(gcp, certificate_id)
    return Issued(certificate_id, gcp.get_certificate(certificate_id).number, notification_id)


@pytest.fixture
def world(gcp: GiftCertificates) -> Issued:
    return issue_one(gcp)


def asgi_client(gcp: GiftCertificates) -> httpx.AsyncClient:
    """httpx straight on the ASGI app (no server): the requests one event loop makes together
    are in flight together. Open it (`async with`) in that loop."""
    app: Any = create_http_app(gcp, jwt_secret=SECRET)  # an ASGI app; httpx's hint is narrower
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
def make_client(gcp: GiftCertificates) -> Iterator[Callable[..., TestClient[Any]]]:
    """A client over an app built with other arguments (readiness checks, say)."""
    opened: list[TestClient[Any]] = []

    def factory(**kwargs: Any) -> TestClient[Any]:
        test_client = TestClient(create_http_app(gcp, jwt_secret=SECRET, **kwargs))
        test_client.__enter__()
        opened.append(test_client)
        return test_client

    yield factory
    for test_client in opened:
        test_client.__exit__(None, None, None)


def assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:gcp:problem:{slug}", body
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["instance"] == response.request.url.path
    assert body["requestId"] == response.headers["x-request-id"]
    return body


@contextmanager
def running_service(tmp_path: Path, parts: Iterable[str], secret: str) -> Iterator[Service]:
    """The service of `parts` over an application on a memory store, listening for HTTP on a
    free port; stopped (and the application closed) on the way out."""
    settings = Settings.from_env(
        {
            "GCP_VAR_DIR": str(tmp_path / "var"),
            "GCP_DATABASE_URL": "memory:",
            "GCP_HTTP_PORT": "0",
        }
    )
    app = build_application(settings)
    service = build_service(app, parts, jwt_secret=secret)
    try:
        service.start()
        yield service
    finally:
        service.stop(timeout=10)
        app.close()


@pytest.fixture(name="bearer")
def bearer_fixture() -> Bearer:
    return bearer


@pytest.fixture(name="issue")
def issue_fixture(gcp: GiftCertificates) -> Callable[..., Issued]:
    return lambda order_id="WEB-2": issue_one(gcp, order_id)


@pytest.fixture(name="problem")
def problem_fixture() -> Problem:
    return assert_problem
