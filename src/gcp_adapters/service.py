"""`gcp serve`: the parts of the service in one process, each on its own thread, stopped together.

Parts: the HTTP API, the inbound consumers, the outbound relay and the timers. Each can also
run alone (`--only`), so that each scales on its own against a shared PostgreSQL and Kafka.
With no GCP_KAFKA_BOOTSTRAP_SERVERS the process starts the embedded broker (development only),
which only makes sense when the consumers and the relay share this process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Final

from gcp_adapters.bootstrap import jwt_secret as configured_jwt_secret
from gcp_adapters.http.health import ReadinessCheck, readiness_checks
from gcp_adapters.http.metrics import MetricsSources
from gcp_adapters.http.server import HttpServer
from gcp_adapters.kafka.consumer import DEFAULT_BATCH_SIZE, InboundConsumer
from gcp_adapters.kafka.decoding import InboundTopics
from gcp_adapters.kafka.embedded import ADDRESS_FILE, EmbeddedBroker
from gcp_adapters.kafka.probe import KafkaProbe
from gcp_adapters.kafka.relay import Relay
from gcp_app.application import GiftCertificates
from gcp_app.errors import ConfigurationError
from gcp_app.timers import Timers

logger = logging.getLogger("gcp.service")

HTTP: Final = "http"
CONSUMERS: Final = "consumers"
RELAY: Final = "relay"
TIMERS: Final = "timers"
PARTS: Final = (HTTP, CONSUMERS, RELAY, TIMERS)
# How long start() waits for the HTTP server to listen.
HTTP_START_SECONDS: Final = 15.0


class Service:
    def __init__(
        self,
        app: GiftCertificates,
        parts: Iterable[str] = PARTS,
        *,
        batch_size: int | None = None,
        jwt_secret: str | None = None,
    ) -> None:
        self.app = app
        self.parts = tuple(dict.fromkeys(parts))
        unknown = set(self.parts) - set(PARTS)
        if unknown:
            raise ConfigurationError(f"unknown parts: {', '.join(sorted(unknown))}")
        settings = app.settings
        self.broker: EmbeddedBroker | None = None
        self.bootstrap_servers = settings.kafka_bootstrap_servers
        uses_kafka = CONSUMERS in self.parts or RELAY in self.parts
        if uses_kafka and self.bootstrap_servers is None:
            if not {CONSUMERS, RELAY} <= set(self.parts):
                raise ConfigurationError(
                    "running a Kafka part without the other needs GCP_KAFKA_BOOTSTRAP_SERVERS: "
                    "the embedded broker lives inside one process"
                )
            self.broker = EmbeddedBroker(
                topics=(
                    settings.topic_sales_order,
                    settings.topic_payments,
                    settings.topic_clients,
                    settings.topic_stream,
                    settings.topic_dlq,
                )
            )
            self.bootstrap_servers = self.broker.bootstrap_servers
            settings.var_dir.mkdir(parents=True, exist_ok=True)
            (settings.var_dir / ADDRESS_FILE).write_text(self.bootstrap_servers + "\n")
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.consumer: InboundConsumer | None = None
        self.relay: Relay | None = None
        self.timers: Timers | None = None
        self.http: HttpServer | None = None
        self._http_thread: threading.Thread | None = None
        # The secret first: a bad one must fail before any Kafka client is made.
        secret = (jwt_secret or configured_jwt_secret(settings)) if HTTP in self.parts else None
        if CONSUMERS in self.parts:
            assert self.bootstrap_servers is not None
            self.consumer = InboundConsumer(
                app,
                self.bootstrap_servers,
                topics=InboundTopics(
                    settings.topic_sales_order, settings.topic_payments, settings.topic_clients
                ),
                group_id=settings.kafka_group_id,
                batch_size=batch_size or DEFAULT_BATCH_SIZE,
            )
        if RELAY in self.parts:
            self.relay = Relay(
                app,
                {"bootstrap.servers": self.bootstrap_servers},
                settings.topic_stream,
                settings.topic_dlq,
            )
        if TIMERS in self.parts:
            self.timers = Timers(app)
        if secret is not None:
            self.http = HttpServer(
                app,
                host=settings.http_host,
                port=settings.http_port,
                jwt_secret=secret,
                readiness=self._readiness(),
                metrics=MetricsSources(
                    consumer=self.consumer.metrics.snapshot if self.consumer else None,
                    relay=self.relay.stats if self.relay else None,
                ),
            )

    def _readiness(self) -> dict[str, ReadinessCheck]:
        """The store, and Kafka when this process runs a Kafka part."""
        checks = readiness_checks(self.app)
        if (self.consumer is not None or self.relay is not None) and self.bootstrap_servers:
            checks["kafka"] = KafkaProbe(self.bootstrap_servers)
        return checks

    def start(self) -> None:
        runs: list[tuple[str, Callable[[], None]]] = []
        if self.http is not None:
            runs.append((HTTP, self.http.run))
        if self.consumer is not None:
            consumer = self.consumer
            runs.append((CONSUMERS, lambda: consumer.run(self._stop)))
        if self.relay is not None:
            relay = self.relay
            runs.append((RELAY, lambda: relay.run(self._stop)))
        if self.timers is not None:
            timers = self.timers
            runs.append((TIMERS, lambda: timers.run(self._stop)))
        for name, run in runs:
            thread = threading.Thread(target=self._guarded(name, run), name=f"gcp-{name}")
            thread.start()
            self._threads.append(thread)
            if name == HTTP:
                self._http_thread = thread
        if self.http is not None and not self.http.wait_started(
            HTTP_START_SECONDS, self._http_thread
        ):
            logger.error("the HTTP server did not start; stopping the service")
            self._stop.set()

    def _guarded(self, name: str, run: Callable[[], None]) -> Callable[[], None]:
        def target() -> None:
            try:
                run()
            except BaseException:
                # A part that dies takes the process down with it: an orchestrator restarts
                # a whole process far more reliably than we would restart a thread.
                logger.exception("%s stopped unexpectedly; stopping the service", name)
                self._stop.set()

        return target

    @property
    def http_url(self) -> str | None:
        return self.http.url if self.http is not None else None

    @property
    def stopping(self) -> threading.Event:
        return self._stop

    def stop(self, timeout: float = 30.0) -> None:
        """Finishes what is in flight (the current batch commits), then closes everything."""
        self._stop.set()
        if self.relay is not None:
            self.relay.stop()
        if self.http is not None:
            self.http.stop()
        for thread in self._threads:
            thread.join(timeout)
        if self.consumer is not None:
            self.consumer.close()
        if self.relay is not None:
            self.relay.close()
        if self.broker is not None:
            (self.app.settings.var_dir / ADDRESS_FILE).unlink(missing_ok=True)
            self.broker.close()
