"""The benchmark's PostgreSQL: one fresh database per run, a schema per part, dropped after."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import psycopg
from psycopg import sql

from bench.workload import Reserved
from gcp_app.application import GiftCertificates
from gcp_app.settings import Settings
from gcp_domain.cause import Cause

DEFAULT_SERVER: Final = "postgresql://postgres@127.0.0.1:5432/postgres"
POOL: Final = "bench"
CAUSE: Final = Cause("bench:setup", "bench", "bench")


class PostgresUnavailable(Exception):
    pass


def _connect(server: str) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(server, connect_timeout=5, autocommit=True)
    except psycopg.OperationalError as error:
        raise PostgresUnavailable(
            f"the benchmark needs PostgreSQL at {server} (set GCP_BENCH_POSTGRES): {error}"
        ) from None


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new database on `server` for this run; dropped afterwards (even on failure).
    Yields its URL."""
    name = f"gcp_bench_{os.getpid()}_{secrets.token_hex(4)}"
    with _connect(server) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = server.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with _connect(server) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# Settings an operator tunes, taken from the bench's environment when set (to measure them).
TUNABLE: Final = ("GCP_MATCHER_CACHE_SIZE", "GCP_RELAY_CACHE_SIZE")


def settings_for(database_url: str, schema: str, var_dir: Path, cipher_key: str) -> Settings:
    return Settings.from_env(
        {
            **{name: os.environ[name] for name in TUNABLE if name in os.environ},
            "GCP_VAR_DIR": str(var_dir),
            "GCP_DATABASE_URL": f"{database_url}?schema={schema}",
            "GCP_CIPHER_KEY": cipher_key,
        }
    )


def new_cipher_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def create_schema(database_url: str, schema: str) -> None:
    with _connect(database_url) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))


def reserved_certificates(app: GiftCertificates, count: int, *, threads: int = 4) -> list[Reserved]:
    """Pre-creates `count` certificates in the bench pool and reserves each (as a channel does
    with GET /certificates/next), in the order they will be sold."""
    app.pools.generate_certificates(POOL, count, cause=CAUSE)

    def reserve(index: int) -> Reserved:
        granted = app.reservations.reserve_next(
            POOL, channel="WEB", order_id=f"WEB-{index:07d}", cause=CAUSE
        )
        return Reserved(granted.certificate_id, granted.number)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(reserve, range(count)))


def count_events(app: GiftCertificates, after: int) -> int:
    """Stored events with a notification id after `after`."""
    recorder = app.store.recorder
    table = recorder.events_table_name  # type: ignore[attr-defined]
    schema = recorder.datastore.schema  # type: ignore[attr-defined]
    query = sql.SQL("SELECT count(*) FROM {}.{} WHERE notification_id > %s").format(
        sql.Identifier(schema), sql.Identifier(table)
    )
    with recorder.datastore.transaction(commit=False) as curs:  # type: ignore[attr-defined]
        curs.execute(query, (after,))
        row = curs.fetchone()
    return int(row["count"]) if row else 0
