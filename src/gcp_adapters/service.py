"""`gcp serve`: the parts of the service in one process, each on its own thread, stopped together.

Parts: the HTTP API, the inbound consumers, the outbound relay and the timers. Each can also
run alone (`--only`), so that each scales on its own against a shared PostgreSQL and Kafka.
With no GCP_KAFKA_BOOTSTRAP_SERVERS the process starts the embedded broker (development only),
which only makes sense when the consumers and the relay share this process. The parts are built
by the composition root (gcp_adapters.bootstrap.build_service); this runs them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Final

import attrs

from gcp_adapters.http.server import HttpServer
from gcp_adapters.kafka.consumer import InboundConsumer
from gcp_adapters.kafka.embedded import ADDRESS_FILE, EmbeddedBroker
from gcp_adapters.kafka.relay import Relay
from gcp_app.application import GiftCertificates
from gcp_app.store_watch import StoreWatch
from gcp_app.timers import Timers

logger = logging.getLogger("gcp.service")

HTTP: Final = "http"
CONSUMERS: Final = "consumers"
RELAY: Final = "relay"
TIMERS: Final = "timers"
PARTS: Final = (HTTP, CONSUMERS, RELAY, TIMERS)
# How long start() waits for the HTTP server to listen.
HTTP_START_SECONDS: Final = 15.0


@attrs.define(eq=False)
class Service:
    app: GiftCertificates
    http: HttpServer | None = attrs.field(default=None, kw_only=True)
    consumer: InboundConsumer | None = attrs.field(default=None, kw_only=True)
    relay: Relay | None = attrs.field(default=None, kw_only=True)
    timers: Timers | None = attrs.field(default=None, kw_only=True)
    broker: EmbeddedBroker | None = attrs.field(default=None, kw_only=True)
    bootstrap_servers: str | None = attrs.field(default=None, kw_only=True)
    store_watch: StoreWatch | None = attrs.field(default=None, kw_only=True)
    _stop: threading.Event = attrs.field(factory=threading.Event, init=False)
    _threads: list[threading.Thread] = attrs.field(factory=list, init=False)
    _http_thread: threading.Thread | None = attrs.field(default=None, init=False)

    def start(self) -> None:
        if self.store_watch is not None:
            self.store_watch.start()
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
    def parts(self) -> tuple[str, ...]:
        """The parts this process runs, in PARTS order."""
        running = {
            HTTP: self.http,
            CONSUMERS: self.consumer,
            RELAY: self.relay,
            TIMERS: self.timers,
        }
        return tuple(name for name in PARTS if running[name] is not None)

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
        if self.store_watch is not None:
            self.store_watch.close()
        if self.broker is not None:
            (self.app.settings.var_dir / ADDRESS_FILE).unlink(missing_ok=True)
            self.broker.close()
