"""Serving the HTTP API with uvicorn on a thread of the service, stopped gracefully.

uvicorn installs no signal handlers off the main thread: the service's own SIGTERM handling
calls `stop()`, which lets uvicorn finish the requests in flight (sync handlers run on worker
threads) and close.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping

import uvicorn

from gcp_adapters.http.app import create_http_app
from gcp_adapters.http.bounded_head import BoundedHeadProtocol
from gcp_adapters.http.health import ReadinessCheck
from gcp_adapters.http.metrics import MetricsSources
from gcp_adapters.http.rate_limit import CallerRate
from gcp_app.application import GiftCertificates
from gcp_app.store_watch import StoreWatch

# Requests in flight get this long to finish when the service stops.
GRACEFUL_SECONDS = 10


class HttpServer:
    def __init__(
        self,
        app: GiftCertificates,
        *,
        host: str,
        port: int,
        reuse_port: bool = False,
        jwt_secret: str,
        readiness: Mapping[str, ReadinessCheck] | None = None,
        metrics: MetricsSources | None = None,
        rate: CallerRate | None = None,
        store_watch: StoreWatch | None = None,
    ) -> None:
        self.host = host
        self.reuse_port = reuse_port
        http_app = create_http_app(
            app,
            jwt_secret=jwt_secret,
            readiness=readiness,
            metrics=metrics,
            rate=rate,
            store_watch=store_watch,
        )
        self.server = uvicorn.Server(
            uvicorn.Config(
                http_app,
                host=host,
                port=port,
                log_config=None,  # the process's logging configuration applies
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=GRACEFUL_SECONDS,
                # Bounded request heads: size, header count and the time to send them.
                http=BoundedHeadProtocol,
                # GCP reads no client address or scheme (limits go by the token's subject, a
                # problem names only the path): X-Forwarded-* handling would be a middleware
                # on every request for nothing.
                proxy_headers=False,
            )
        )

    def run(self) -> None:
        """Serves until `stop()`; a server that ends on its own (it could not bind) raises."""
        # On uvicorn's loop (uvloop when installed), not asyncio.run's.
        if self.reuse_port:
            self.server.run(sockets=[self._shared_socket()])
        else:
            self.server.run()
        if not self.server.should_exit:
            raise RuntimeError(f"the HTTP server on {self.host} stopped by itself")

    def stop(self) -> None:
        self.server.should_exit = True

    def _shared_socket(self) -> socket.socket:
        """The listening socket, bound with SO_REUSEPORT so that the HTTP processes on this
        host share the port (GCP_HTTP_REUSE_PORT). uvicorn binds it otherwise."""
        config = self.server.config
        family, kind, proto, _, address = socket.getaddrinfo(
            config.host, config.port, type=socket.SOCK_STREAM
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            # Inherited by the accepted connections: on a socket it is handed, the event loop
            # leaves Nagle's algorithm on, and every response waited 40 ms for a delayed ACK.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind(address)
            sock.listen(config.backlog)
        except OSError:
            sock.close()
            raise
        return sock

    def wait_started(self, timeout: float, alive: threading.Thread | None = None) -> bool:
        """True once the server listens; False after `timeout` or when `alive` has ended."""
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or (alive is not None and not alive.is_alive()):
                return False
            time.sleep(0.02)
        return True

    @property
    def port(self) -> int:
        """The port it listens on (the chosen one when configured as 0), once started."""
        for server in getattr(self.server, "servers", ()):  # none until it has started
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return int(self.server.config.port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
