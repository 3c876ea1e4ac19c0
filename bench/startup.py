"""(g) start-up: how long `gcp serve` takes from its exec to `ready:`, with 200,000
certificates stored and on an empty store, with a broker in a process of its own.

Nothing a process needs is read in full at start (the pool index is a table written with the
events: gcp_app.pool_rows), so the two should differ by little more than the noise. The
certificates are stocked through the application, 10,000 of them reserved, so that the
timers' deadlines are there too. Also the service's resident memory once ready.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

from bench import store
from bench.e2e import ServiceProcesses
from bench.soak import rss_mb
from gcp_app.application import GiftCertificates

STORED: Final = 200_000
RESERVED: Final = 10_000
POOL: Final = "default"  # the pool `gcp serve` reports on at start


def _serve(
    database: str, schema: str, var_dir: Path, key: str, log_path: Path
) -> tuple[float, float]:
    with log_path.open("ab") as log:
        service = ServiceProcesses(database, var_dir, key, log, schema=schema)
        try:
            return service.ready_after, rss_mb(service.serve.pid)
        finally:
            service.close()


def stock(app: GiftCertificates, count: int = STORED, reserved: int = RESERVED) -> float:
    """Stocks `count` certificates and reserves `reserved` of them; returns the seconds."""
    started = time.monotonic()
    app.pools.generate_certificates(POOL, count, cause=store.CAUSE)

    def reserve(_: int) -> None:
        app.reservations.reserve_next(POOL, channel="WEB", cause=store.CAUSE)

    with ThreadPoolExecutor(4) as threads:
        list(threads.map(reserve, range(reserved)))
    return time.monotonic() - started


def run(
    full: GiftCertificates,
    database: str,
    var_dir: Path,
    key: str,
    log_path: Path,
    *,
    full_schema: str,
    empty_schema: str,
) -> dict[str, Any]:
    """`full` is an application on `full_schema`, stocked here; `empty_schema` holds nothing."""
    stocked_s = stock(full)
    empty_s, empty_rss = _serve(database, empty_schema, var_dir, key, log_path)
    full_s, full_rss = _serve(database, full_schema, var_dir, key, log_path)
    return {
        "startup_certificates": STORED,
        "startup_stock_s": stocked_s,
        "startup_s": full_s,
        "startup_rss_mb": full_rss,
        "startup_empty_s": empty_s,
        "startup_empty_rss_mb": empty_rss,
    }
