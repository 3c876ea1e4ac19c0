"""Whether the event store answers, known without waiting on it.

When PostgreSQL goes away, a call into the store does not fail at once: the pool waits for a
connection (GCP_DB_CONNECT_TIMEOUT) and the library retries each statement up to ten times, so
a request was held for up to half a minute and then answered 200 or 500 at random. StoreWatch
probes the store on a connection of its own every `interval` seconds (a fresh connection with
a one-second connect timeout: a cut network is found as fast as a stopped server), so that the
HTTP API can answer `503 store-unavailable` at once and `/health/ready` can say why. It logs one
WARNING when the store goes away and one INFO when it is back, and then drops the pool's
connections that died meanwhile, so that the first requests after the outage get live ones.

Only PostgreSQL is watched: SQLite is a file of this process and the memory store cannot go.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Final

import psycopg
from eventsourcing.postgres import PostgresDatastore

from gcp_app.store import EventStore, discard_dead_connections

logger = logging.getLogger("gcp.store")

PROBE_INTERVAL: Final = 1.0
PROBE_TIMEOUT: Final = 1  # seconds; libpq's connect_timeout is whole seconds


class StoreWatch:
    def __init__(
        self, store: EventStore, *, interval: float = PROBE_INTERVAL, timeout: int = PROBE_TIMEOUT
    ) -> None:
        self._store = store
        datastore = getattr(store.recorder, "datastore", None)
        self._datastore = datastore if isinstance(datastore, PostgresDatastore) else None
        self._interval = interval
        self._timeout = timeout
        self._down_since: float | None = None
        self._reason = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def watches(self) -> bool:
        """Whether there is anything to watch (a PostgreSQL store)."""
        return self._datastore is not None

    def unavailable(self) -> str | None:
        """Why the store does not answer (as of the last probe), or None when it does."""
        if self._down_since is None:
            return None
        return f"the event store does not answer ({self._reason})"

    def start(self) -> None:
        if self._datastore is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="gcp-store-watch", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def probe(self) -> None:
        """One probe, and what follows from its answer (also called by the loop)."""
        if self._datastore is None:
            return
        given = self._datastore.pool.kwargs
        kwargs = dict(given() if callable(given) else given or {})
        kwargs.pop("row_factory", None)
        try:
            with psycopg.connect(
                connect_timeout=self._timeout, application_name="gcp-store-watch", **kwargs
            ) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as error:
            self._went_away(str(error).strip().splitlines()[0] if str(error).strip() else "?")
        else:
            self._came_back()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.probe()
            except Exception:  # never let the watch die: the next probe tries again
                logger.exception("probing the event store failed")
            self._stop.wait(self._interval)

    def _went_away(self, reason: str) -> None:
        self._reason = reason
        if self._down_since is None:
            self._down_since = time.monotonic()
            logger.warning(
                "the event store does not answer (%s): requests get 503 until it does", reason
            )

    def _came_back(self) -> None:
        if self._down_since is None:
            return
        away = time.monotonic() - self._down_since
        discard_dead_connections(self._store.recorder)
        self._down_since = None
        logger.info("the event store answers again after %.0f s", away)
