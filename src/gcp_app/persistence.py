"""Chooses the event store from GCP_DATABASE_URL and sets its pool and timeouts explicitly.

`sqlite:///relative/path`, `sqlite:////absolute/path`, `postgresql://user:pass@host:port/db`
(`?schema=name` keeps tables in a schema of their own), or `memory:` for tests.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from gcp_app.errors import ConfigurationError
from gcp_app.settings import Settings


def event_store_env(settings: Settings) -> dict[str, str]:
    """The eventsourcing environment for the store that `settings.database_url` names."""
    url = settings.database_url
    if url in ("memory:", "memory://"):
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    scheme = url.split(":", 1)[0]
    if scheme == "sqlite":
        return _sqlite_env(url, settings)
    if scheme in ("postgresql", "postgres"):
        return _postgres_env(url, settings)
    raise ConfigurationError(
        "GCP_DATABASE_URL must start with sqlite:///, postgresql:// or be memory:"
    )


def sqlite_path(url: str) -> Path:
    path = url.removeprefix("sqlite:///")
    if not path or path == url:
        raise ConfigurationError("a SQLite URL is sqlite:///path/to/file.sqlite")
    return Path(path)


def _sqlite_env(url: str, settings: Settings) -> dict[str, str]:
    path = sqlite_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(path),
        "SQLITE_LOCK_TIMEOUT": str(settings.db_lock_timeout),
        "PROCESS_RECORDER_TOPIC": "gcp_app.recorders:SQLiteInboxRecorder",
        "CREATE_TABLE": "y",
    }


def _postgres_env(url: str, settings: Settings) -> dict[str, str]:
    parts = urlsplit(url)
    dbname = parts.path.lstrip("/")
    if not (parts.hostname and dbname):
        raise ConfigurationError("a PostgreSQL URL is postgresql://user:pass@host:port/dbname")
    query = parse_qs(parts.query)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(dbname),
        "POSTGRES_HOST": parts.hostname,
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        # Set explicitly: the library's defaults (30 s connect, unlimited waiting, no lock
        # timeout) would let an overloaded service hang instead of answering.
        "POSTGRES_CONNECT_TIMEOUT": str(settings.db_connect_timeout),
        "POSTGRES_MAX_WAITING": str(settings.db_max_waiting),
        "POSTGRES_LOCK_TIMEOUT": str(settings.db_lock_timeout),
        "POSTGRES_POOL_SIZE": str(settings.db_pool_size),
        "POSTGRES_MAX_OVERFLOW": str(settings.db_max_overflow),
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
        # No ping before each use: it is a round trip per transaction. A broken pooled
        # connection fails its statement, the pool discards it, and the library's retry runs
        # the statement again on a fresh one (tests/integration/test_store_reconnects.py).
        "POSTGRES_PRE_PING": "n",
        "PROCESS_RECORDER_TOPIC": "gcp_app.recorders:PostgresInboxRecorder",
        "CREATE_TABLE": "y",
        # POSTGRES_ENABLE_DB_FUNCTIONS stays unset on purpose: with it, subscriptions can skip
        # events written by concurrent writers.
    }
    if "schema" in query:
        env["POSTGRES_SCHEMA"] = query["schema"][0]
    return env


def describe(url: str) -> str:
    """The URL without its password, for logs and the CLI."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
