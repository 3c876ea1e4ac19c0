"""Shared test configuration: hypothesis profiles and the PostgreSQL server.

`HYPOTHESIS_PROFILE` picks one: `dev` (the default, quick) or `ci` (nox sets it: the lifecycle
state machine runs at least 200 examples).
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, settings

from gcp_adapters.logs import OncePerInterval

settings.register_profile(
    "ci",
    max_examples=200,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    max_examples=50,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


# ---------------------------------------------------------------------- PostgreSQL
# The server is at 127.0.0.1:5432 on this machine kind (trust auth). Each test (or module) gets
# a schema of its own in the `gcp_test` database, dropped afterwards. Where the server is
# unreachable the PostgreSQL tier skips, unless GCP_REQUIRE_POSTGRES=1 (CI): then it fails.

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
    """The base URL of the test database (created if missing)."""
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
            # Another test worker (pytest-xdist) may create it first.
            with contextlib.suppress(
                psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation
            ):
                conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    return f"postgresql://{user}@{PG_HOST}:{PG_PORT}/{PG_DATABASE}"


@contextlib.contextmanager
def _schema(server: str) -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{server}?schema={schema}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="session")
def postgres_schema(
    postgres_server: str,
) -> Callable[[], contextlib.AbstractContextManager[str]]:
    """Opens a fresh schema (its URL) for as long as the `with` block lasts."""
    return lambda: _schema(postgres_server)


@pytest.fixture
def postgres_url(
    postgres_schema: Callable[[], contextlib.AbstractContextManager[str]],
) -> Iterator[str]:
    """A fresh schema of its own for one test."""
    with postgres_schema() as url:
        yield url


@pytest.fixture(autouse=True)
def _quiet_logs_start_afresh() -> None:
    """What a test logs is not held back because an earlier test said the same within a
    minute (gcp_adapters.logs.OncePerInterval keeps what it has passed)."""
    loggers = [logging.getLogger(), *logging.root.manager.loggerDict.values()]
    for logger in loggers:
        for found in getattr(logger, "filters", ()):
            if isinstance(found, OncePerInterval):
                found.forget()
