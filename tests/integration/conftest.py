"""Stores for the application suite: in-memory, SQLite and a real PostgreSQL server.

PostgreSQL is at 127.0.0.1:5432 on this machine kind (trust auth). Each test gets a schema of its
own in the `gcp_test` database, dropped afterwards. Where the server is unreachable the Postgres
tier skips, unless GCP_REQUIRE_POSTGRES=1 (CI), where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from gcp_app.application import GiftCertificates
from gcp_app.settings import Settings

PG_HOST = os.environ.get("GCP_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("GCP_TEST_PG_PORT", "5432"))
PG_DATABASE = "gcp_test"
PG_USERS = ("postgres", "root")


def _admin_connect() -> tuple[psycopg.Connection[tuple[object, ...]], str]:
    last: Exception | None = None
    for user in PG_USERS:
        try:
            conn = psycopg.connect(
                host=PG_HOST,
                port=PG_PORT,
                user=user,
                dbname="postgres",
                connect_timeout=3,
                autocommit=True,
            )
        except psycopg.OperationalError as error:
            last = error
            continue
        return conn, user
    raise RuntimeError(f"PostgreSQL at {PG_HOST}:{PG_PORT} is unreachable: {last}")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The base URL of the test database (created if missing); skips or fails if unreachable."""
    try:
        conn, user = _admin_connect()
    except RuntimeError as error:
        if os.environ.get("GCP_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"the PostgreSQL tier must run here: {error}")
        pytest.skip(str(error))
    with conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    return f"postgresql://{user}@{PG_HOST}:{PG_PORT}/{PG_DATABASE}"


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh schema of its own for one test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{postgres_server}?schema={schema}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory:"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gcp.sqlite'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


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
        application = GiftCertificates(settings, clock=clock)
        opened.append(application)
        return application

    yield factory
    for application in opened:
        application.close()


@pytest.fixture
def app(make_app: Callable[[], GiftCertificates]) -> GiftCertificates:
    return make_app()
