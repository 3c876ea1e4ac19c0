"""Configuration by environment: every setting, its default and what it means, in one place.

`gcp --help` prints SETTINGS, so this table is the operator's reference too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Final

import attrs

from gcp_app.errors import ConfigurationError


@attrs.frozen
class Setting:
    env: str
    default: str | None
    help: str


SETTINGS: Final = (
    Setting("GCP_VAR_DIR", "./var", "Directory for the SQLite store, the CVC key and local state."),
    Setting(
        "GCP_DATABASE_URL",
        None,
        "sqlite:///path or postgresql://user:pass@host:port/db[?schema=name]; "
        "default: sqlite:///<GCP_VAR_DIR>/gcp.sqlite.",
    ),
    Setting(
        "GCP_CIPHER_KEY",
        None,
        "AES key (base64, 16/24/32 bytes) that seals CVCs; default: generated once into "
        "<GCP_VAR_DIR>/cipher.key with owner-only permissions.",
    ),
    Setting("GCP_DB_POOL_SIZE", "8", "Database connections kept open (PostgreSQL)."),
    Setting("GCP_DB_MAX_OVERFLOW", "8", "Extra connections allowed under load (PostgreSQL)."),
    Setting("GCP_DB_CONNECT_TIMEOUT", "5", "Seconds to wait for a database connection."),
    Setting("GCP_DB_MAX_WAITING", "64", "Requests that may queue for a connection before error."),
    Setting("GCP_DB_LOCK_TIMEOUT", "5", "Seconds a write waits for the event table's lock."),
    Setting(
        "GCP_RESERVATION_TTL_SECONDS", "900", "How long an unissued reservation is held (15 min)."
    ),
    Setting(
        "GCP_TIMER_INTERVAL_SECONDS",
        "5",
        "How often the timers release lapsed reservations and expire certificates.",
    ),
    Setting(
        "GCP_DEFAULT_VALIDITY_DAYS", "365", "Validity of a certificate when an order omits it."
    ),
    Setting("GCP_DEFAULT_CURRENCY", "RUB", "Currency when a message omits it (ISO 4217)."),
    Setting("GCP_POOL_LOW_WATERMARK", "100", "Pool level under which operators should refill."),
    Setting("GCP_CVC_DIGITS", "4", "Digits of a generated CVC (3 to 8)."),
    Setting(
        "GCP_CVC_MAX_FAILURES",
        "5",
        "Failed CVC requests by one caller (token subject) within the window before it is "
        "locked out; never counted against the certificate.",
    ),
    Setting(
        "GCP_RATE_PER_SECOND",
        "50",
        "Requests a second per caller (token subject) on reservations, bursts up to twice that.",
    ),
    Setting(
        "GCP_REDIS_URL",
        None,
        "Redis shared by the HTTP processes for the rate limits (redis://host:6379/0); unset: "
        "each process limits on its own.",
    ),
    Setting(
        "GCP_CVC_WINDOW_SECONDS",
        "900",
        "Window of the CVC failure counts, and how long a lock-out lasts (15 min).",
    ),
    Setting(
        "GCP_KAFKA_BOOTSTRAP_SERVERS",
        None,
        "Kafka brokers, host:port[,host:port...]; unset: an embedded Kafka-protocol broker "
        "in the process (development only; its address is printed).",
    ),
    Setting("GCP_TOPIC_STREAM", "GiftCertificates.Stream", "Outbound topic of certificate states."),
    Setting("GCP_TOPIC_DLQ", "GiftCertificates.DLQ", "Outbound dead-letter topic."),
    Setting("GCP_TOPIC_SALES_ORDER", "All_SalesOrder", "Inbound topic of sales orders."),
    Setting("GCP_TOPIC_PAYMENTS", "All_Payments", "Inbound topic of payments."),
    Setting("GCP_TOPIC_CLIENTS", "All_Clients", "Inbound topic of CRM client profiles."),
    Setting("GCP_KAFKA_GROUP_ID", "gcp", "Consumer group of the inbound topics."),
    Setting(
        "GCP_KAFKA_INSTANCE_ID",
        None,
        "Static group membership: a name stable across restarts and unique in the group (a "
        "StatefulSet's pod name, say), so that a restarted consumer takes its partitions back "
        "at once instead of after a rebalance; unset: dynamic membership.",
    ),
    Setting(
        "GCP_KAFKA_SESSION_TIMEOUT_MS",
        "6000",
        "How long the group waits for a consumer that stopped answering before its partitions "
        "go to another (Kafka's default is 45,000; 6,000 is the least a broker admits by "
        "default). Heartbeats go every third of it.",
    ),
    Setting(
        "GCP_MATCHER_CACHE_SIZE",
        "10000",
        "Aggregates (certificates, orders, number claims) the inbound consumer keeps between "
        "batches, so that one touched again is caught up, not rebuilt from all its events "
        "(about 3 KB each: 10,000 are about 30 MB; docs/operations.md, sizing).",
    ),
    Setting(
        "GCP_RELAY_CACHE_SIZE",
        "10000",
        "Certificates the relay keeps between steps, so that the next change of one is "
        "published from the copy, not rebuilt from all its events (about 3 KB each).",
    ),
    Setting(
        "GCP_BI_DATABASE",
        None,
        "DuckDB file of the BI marts (schema marts); the landed messages go beside it "
        "(<name>-landing.duckdb); default: <GCP_VAR_DIR>/bi/marts.duckdb.",
    ),
    Setting("GCP_BI_BUILD_SECONDS", "60", "How often `gcp bi run` rebuilds the marts (seconds)."),
    Setting("GCP_HTTP_HOST", "127.0.0.1", "Address the HTTP API listens on."),
    Setting("GCP_HTTP_PORT", "8080", "Port the HTTP API listens on (0: any free port)."),
    Setting(
        "GCP_HTTP_REUSE_PORT",
        "false",
        "true: several `gcp serve --only http` processes on one host share the port "
        "(SO_REUSEPORT, the kernel spreads connections among them): run one a core.",
    ),
    Setting(
        "GCP_JWT_SECRET",
        None,
        "HS256 secret of the HTTP API's bearer tokens (32 characters or more); default: "
        "generated once into <GCP_VAR_DIR>/jwt.secret with owner-only permissions.",
    ),
)

_DEFAULTS: Final = {s.env: s.default for s in SETTINGS}
_FLAGS: Final = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _embedded_database_url(var_dir: Path) -> str:
    return f"sqlite:///{var_dir / 'gcp.sqlite'}"


@attrs.frozen
class Settings:
    var_dir: Path
    database_url: str
    cipher_key: str | None
    db_pool_size: int
    db_max_overflow: int
    db_connect_timeout: int
    db_max_waiting: int
    db_lock_timeout: int
    reservation_ttl: timedelta
    timer_interval: timedelta
    default_validity: timedelta
    default_currency: str
    pool_low_watermark: int
    cvc_digits: int
    kafka_bootstrap_servers: str | None
    topic_stream: str
    topic_dlq: str
    topic_sales_order: str
    topic_payments: str
    topic_clients: str
    kafka_group_id: str
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    http_reuse_port: bool = False
    jwt_secret: str | None = None
    cvc_max_failures: int = 5
    cvc_window: timedelta = timedelta(minutes=15)
    rate_per_second: int = 50
    redis_url: str | None = None
    matcher_cache_size: int = 10_000
    relay_cache_size: int = 10_000
    kafka_instance_id: str | None = None
    kafka_session_timeout_ms: int = 6000
    bi_database: Path = Path("var/bi/marts.duckdb")
    bi_build_seconds: int = 60

    @property
    def embedded_store(self) -> bool:
        """The store is the embedded default: a SQLite file under GCP_VAR_DIR (no
        GCP_DATABASE_URL)."""
        return self.database_url == _embedded_database_url(self.var_dir)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str:
            value = env.get(name) or _DEFAULTS[name]
            if value is None:
                raise ConfigurationError(f"{name} is not set")
            return value

        def integer(name: str, low: int = 0, high: int = 1_000_000_000) -> int:
            raw = get(name)
            try:
                value = int(raw)
            except ValueError:
                raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
            if not low <= value <= high:
                raise ConfigurationError(f"{name} must be between {low} and {high}")
            return value

        def flag(name: str) -> bool:
            raw = get(name).strip().lower()
            if raw not in _FLAGS:
                raise ConfigurationError(f"{name} must be true or false, got {raw!r}")
            return _FLAGS[raw]

        def optional(name: str) -> str | None:
            """Unset, empty or only blanks: None, the setting's unset behaviour."""
            return (env.get(name) or "").strip() or None

        var_dir = Path(get("GCP_VAR_DIR"))
        database_url = env.get("GCP_DATABASE_URL") or _embedded_database_url(var_dir)
        return cls(
            var_dir=var_dir,
            database_url=database_url,
            cipher_key=env.get("GCP_CIPHER_KEY") or None,
            db_pool_size=integer("GCP_DB_POOL_SIZE", 1, 1000),
            db_max_overflow=integer("GCP_DB_MAX_OVERFLOW", 0, 1000),
            db_connect_timeout=integer("GCP_DB_CONNECT_TIMEOUT", 1, 600),
            db_max_waiting=integer("GCP_DB_MAX_WAITING", 0, 100_000),
            db_lock_timeout=integer("GCP_DB_LOCK_TIMEOUT", 1, 600),
            reservation_ttl=timedelta(seconds=integer("GCP_RESERVATION_TTL_SECONDS", 1)),
            timer_interval=timedelta(seconds=integer("GCP_TIMER_INTERVAL_SECONDS", 1, 3600)),
            default_validity=timedelta(days=integer("GCP_DEFAULT_VALIDITY_DAYS", 1, 36_500)),
            default_currency=get("GCP_DEFAULT_CURRENCY"),
            pool_low_watermark=integer("GCP_POOL_LOW_WATERMARK"),
            cvc_digits=integer("GCP_CVC_DIGITS", 3, 8),
            kafka_bootstrap_servers=optional("GCP_KAFKA_BOOTSTRAP_SERVERS"),
            topic_stream=get("GCP_TOPIC_STREAM"),
            topic_dlq=get("GCP_TOPIC_DLQ"),
            topic_sales_order=get("GCP_TOPIC_SALES_ORDER"),
            topic_payments=get("GCP_TOPIC_PAYMENTS"),
            topic_clients=get("GCP_TOPIC_CLIENTS"),
            kafka_group_id=get("GCP_KAFKA_GROUP_ID"),
            http_host=get("GCP_HTTP_HOST"),
            http_port=integer("GCP_HTTP_PORT", 0, 65535),
            http_reuse_port=flag("GCP_HTTP_REUSE_PORT"),
            jwt_secret=env.get("GCP_JWT_SECRET") or None,
            rate_per_second=integer("GCP_RATE_PER_SECOND", 1, 1_000_000_000),
            redis_url=optional("GCP_REDIS_URL"),
            cvc_max_failures=integer("GCP_CVC_MAX_FAILURES", 1, 1000),
            cvc_window=timedelta(seconds=integer("GCP_CVC_WINDOW_SECONDS", 1, 86_400)),
            matcher_cache_size=integer("GCP_MATCHER_CACHE_SIZE", 0, 10_000_000),
            relay_cache_size=integer("GCP_RELAY_CACHE_SIZE", 1, 10_000_000),
            kafka_instance_id=optional("GCP_KAFKA_INSTANCE_ID"),
            kafka_session_timeout_ms=integer("GCP_KAFKA_SESSION_TIMEOUT_MS", 1000, 3_600_000),
            bi_database=Path(env.get("GCP_BI_DATABASE") or var_dir / "bi" / "marts.duckdb"),
            bi_build_seconds=integer("GCP_BI_BUILD_SECONDS", 1, 86_400),
        )
