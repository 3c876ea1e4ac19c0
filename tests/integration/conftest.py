"""Stores for the application suite: in-memory, SQLite and a real PostgreSQL server (a schema
of its own per test: `postgres_url` in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.issuing import ADMIN, POOL

from gcp_adapters.bootstrap import build_application
from gcp_app.application import GiftCertificates
from gcp_app.settings import Settings


def store_url_for(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a store of `kind`: "memory", "sqlite" (a file in the test's tmp_path) or
    "postgres" (a schema of the test's own)."""
    if kind == "memory":
        return "memory:"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'gcp.sqlite'}"
    assert kind == "postgres", kind
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url_for(request.param, request, tmp_path)


# For the tests of what outlives a process (a restart, a second instance): the stores on disk.
DURABLE = pytest.mark.parametrize(
    "database_url",
    ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)


class FixedClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime | None = None) -> None:
        self.moment = now or datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> None:
        self.moment += delta


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


def make_settings(tmp_path: Path, database_url: str, **extra: str) -> Settings:
    return Settings.from_env(
        {"GCP_VAR_DIR": str(tmp_path / "var"), "GCP_DATABASE_URL": database_url, **extra}
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
def make_app(settings: Settings, clock: FixedClock) -> Iterator[Callable[[], GiftCertificates]]:
    """Another application on the same store (a restart, or a second instance)."""
    opened: list[GiftCertificates] = []

    def factory() -> GiftCertificates:
        application = build_application(settings, clock=clock)
        opened.append(application)
        return application

    yield factory
    for application in opened:
        application.close()


@pytest.fixture
def app(make_app: Callable[[], GiftCertificates]) -> GiftCertificates:
    return make_app()


@pytest.fixture
def stocked(app: GiftCertificates) -> GiftCertificates:
    """`app` with 6 certificates in the default pool."""
    app.pools.generate_certificates(POOL, 6, cause=ADMIN)
    return app
