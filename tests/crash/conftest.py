"""The crash tier: a PostgreSQL schema of its own per test and a mock Kafka cluster that the
test process owns (the consumer under test runs in a child process and is killed at will).

PostgreSQL is at 127.0.0.1:5432 (trust auth), as for the integration tier: where it is
unreachable the tier skips, unless GCP_REQUIRE_POSTGRES=1 (CI), where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from gcp_adapters.kafka.mock_cluster import MockCluster

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
    """A fresh schema of its own for one test, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{postgres_server}?schema={schema}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def mock_cluster() -> Iterator[MockCluster]:
    """One mock broker; the test closes its own clients before this fixture closes it."""
    cluster = MockCluster(1)
    cluster.set_group_initial_rebalance_delay(50)  # not the mock's 3 s per new group
    yield cluster
    cluster.close()
