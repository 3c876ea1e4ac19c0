"""The composition root: the one place that builds GCP's parts from settings and wires them.

`build_application` builds the application (the store, the read model of the pools, the use
cases and the services around them); `build_service` builds the parts `gcp serve` runs on it
(the HTTP API, the inbound consumer, the relay, the timers, and the embedded broker on the
development defaults). Parts build only their own insides (the HTTP server its Litestar app,
the consumer its pipeline of batches, the relay its outbox reader) from what they are given.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Final

from gcp_adapters.http.health import not_stalled, readiness_checks
from gcp_adapters.http.metrics import MetricsSources
from gcp_adapters.http.rate_limit import caller_rate
from gcp_adapters.http.server import HttpServer
from gcp_adapters.kafka.consumer import DEFAULT_BATCH_SIZE, InboundConsumer
from gcp_adapters.kafka.decoding import InboundTopics
from gcp_adapters.kafka.embedded import ADDRESS_FILE, EmbeddedBroker, running_address
from gcp_adapters.kafka.probe import KafkaProbe
from gcp_adapters.kafka.relay import Relay
from gcp_adapters.service import CONSUMERS, HTTP, PARTS, RELAY, TIMERS, Service
from gcp_app.application import GiftCertificates
from gcp_app.clock import Clock, SystemClock
from gcp_app.cvc import CvcDesk
from gcp_app.cvc_guard import CvcGuard, CvcPolicy
from gcp_app.defaults import Defaults
from gcp_app.errors import ConfigurationError
from gcp_app.notification_ids import NotificationIds
from gcp_app.pool_index import PoolIndex, build_if_missing
from gcp_app.pool_watch import LowWatermarkWatch
from gcp_app.reservation_desk import ReservationDesk
from gcp_app.sealing import CvcSealer, load_or_create_key, load_or_create_secret
from gcp_app.settings import Settings
from gcp_app.shelf import CandidateShelf
from gcp_app.state_objects import reading_desk
from gcp_app.store import EventStore
from gcp_app.store_watch import StoreWatch
from gcp_app.timers import Timers
from gcp_app.use_cases import Context, UseCases
from gcp_app.use_cases.reserving import Reservations
from gcp_app.use_cases.stocking import PoolStock

JWT_SECRET_FILE: Final = "jwt.secret"  # noqa: S105 (a file name, not a secret)
# HS256 with a shorter secret is guessable offline from any one token (RFC 7518 3.2).
MIN_JWT_SECRET: Final = 32


def build_application(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    env: dict[str, str] | None = None,
) -> GiftCertificates:
    """GCP's application on the store `settings` name (GCP_* from the environment by
    default). `env` adds settings of the eventsourcing library (tests)."""
    settings = settings or Settings.from_env()
    clock = clock or SystemClock()
    # The key first: a bad key must not leave a store's connections open behind it.
    cvc_key = load_or_create_key(settings.cipher_key, settings.var_dir)
    sealer = CvcSealer(cvc_key)
    notification_ids = NotificationIds.from_cvc_key(cvc_key)
    store = EventStore(settings, env)
    build_if_missing(store)
    pool_index = PoolIndex(store.pool_table)
    use_cases = UseCases(store, Context(clock, Defaults.from_settings(settings), notification_ids))
    shelf = CandidateShelf(pool_index, store.certificates)
    store.on_rows_recorded(shelf.recorded)
    watch = LowWatermarkWatch(store, pool_index)
    reservations = Reservations(store, shelf, clock, ttl=settings.reservation_ttl, watch=watch)
    guard = CvcGuard(store, CvcPolicy.from_settings(settings), now=clock.now)
    return GiftCertificates(
        settings=settings,
        clock=clock,
        store=store,
        use_cases=use_cases,
        pool_index=pool_index,
        shelf=shelf,
        reservations=reservations,
        reservation_desk=ReservationDesk(reservations.reserve_many),
        reading_desk=reading_desk(store),
        pools=PoolStock(
            store,
            pool_index,
            sealer,
            low_watermark=settings.pool_low_watermark,
            cvc_digits=settings.cvc_digits,
            watch=watch,
        ),
        cvc=CvcDesk(use_cases, guard, sealer),
        sealer=sealer,
        notification_ids=notification_ids,
    )


def build_service(
    app: GiftCertificates,
    parts: Iterable[str] = PARTS,
    *,
    batch_size: int | None = None,
    jwt_secret: str | None = None,
) -> Service:
    """The parts of `gcp serve` on `app`: all of them, or those named (`--only`)."""
    chosen = tuple(dict.fromkeys(parts))
    unknown = set(chosen) - set(PARTS)
    if unknown:
        raise ConfigurationError(f"unknown parts: {', '.join(sorted(unknown))}")
    settings = app.settings
    # The secret first: a bad one must fail before any Kafka client is made.
    secret = (jwt_secret or configured_jwt_secret(settings)) if HTTP in chosen else None
    broker = None
    bootstrap_servers = settings.kafka_bootstrap_servers
    if (CONSUMERS in chosen or RELAY in chosen) and bootstrap_servers is None:
        if {CONSUMERS, RELAY} <= set(chosen):
            broker = _embedded_broker(settings)
            bootstrap_servers = broker.bootstrap_servers
        else:
            # One Kafka part alone joins the embedded broker of a `gcp serve` running here.
            bootstrap_servers = running_address(settings.var_dir)
            if bootstrap_servers is None:
                raise ConfigurationError(
                    "running a Kafka part without the other needs GCP_KAFKA_BOOTSTRAP_SERVERS, "
                    f"or a `gcp serve` on the embedded broker (GCP_VAR_DIR={settings.var_dir})"
                )
    consumer = relay = None
    if CONSUMERS in chosen:
        assert bootstrap_servers is not None
        consumer = InboundConsumer(
            app,
            bootstrap_servers,
            topics=InboundTopics(
                settings.topic_sales_order, settings.topic_payments, settings.topic_clients
            ),
            group_id=settings.kafka_group_id,
            batch_size=batch_size or DEFAULT_BATCH_SIZE,
            config=membership_config(settings),
        )
    if RELAY in chosen:
        relay = Relay(
            app, {"bootstrap.servers": bootstrap_servers}, settings.topic_stream, settings.topic_dlq
        )
    http = store_watch = None
    if secret is not None:
        store_watch = StoreWatch(app.store)
        checks = readiness_checks(app, store_watch)
        if (consumer is not None or relay is not None) and bootstrap_servers:
            checks["kafka"] = KafkaProbe(bootstrap_servers)
        if consumer is not None:
            checks["consumer"] = not_stalled(consumer.stalled)
        if relay is not None:
            checks["relay"] = not_stalled(relay.stalled)
        http = HttpServer(
            app,
            host=settings.http_host,
            port=settings.http_port,
            reuse_port=settings.http_reuse_port,
            jwt_secret=secret,
            readiness=checks,
            rate=caller_rate(settings.rate_per_second, settings.redis_url),
            store_watch=store_watch,
            metrics=MetricsSources(
                consumer=consumer.metrics.snapshot if consumer else None,
                relay=relay.stats if relay else None,
            ),
        )
    return Service(
        app,
        http=http,
        consumer=consumer,
        relay=relay,
        timers=Timers(app) if TIMERS in chosen else None,
        broker=broker,
        bootstrap_servers=bootstrap_servers,
        store_watch=store_watch,
    )


def membership_config(settings: Settings) -> dict[str, str | int]:
    """The consumer's group membership: its session timeout (heartbeats every third of it,
    as Kafka advises), and its static id when set."""
    session = settings.kafka_session_timeout_ms
    config: dict[str, str | int] = {
        "session.timeout.ms": session,
        "heartbeat.interval.ms": max(session // 3, 100),
    }
    if settings.kafka_instance_id is not None:
        config["group.instance.id"] = settings.kafka_instance_id
    return config


def _embedded_broker(settings: Settings) -> EmbeddedBroker:
    """The development broker, its address written under GCP_VAR_DIR for the other commands."""
    broker = EmbeddedBroker(
        topics=(
            settings.topic_sales_order,
            settings.topic_payments,
            settings.topic_clients,
            settings.topic_stream,
            settings.topic_dlq,
        )
    )
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    (settings.var_dir / ADDRESS_FILE).write_text(broker.bootstrap_servers + "\n")
    return broker


def configured_jwt_secret(settings: Settings) -> str:
    """GCP_JWT_SECRET, or the secret generated once under GCP_VAR_DIR (mode 0600)."""
    secret = load_or_create_secret(
        settings.jwt_secret,
        settings.var_dir / JWT_SECRET_FILE,
        lambda: secrets.token_urlsafe(48),
    )
    if len(secret) < MIN_JWT_SECRET:
        raise ConfigurationError(f"GCP_JWT_SECRET must have at least {MIN_JWT_SECRET} characters")
    return secret
