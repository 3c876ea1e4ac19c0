"""`gcp bi build` and `gcp bi run`: land what the topics hold, then rebuild the marts.

DuckDB lets one process write a file at a time, so the two steps take turns: the landing file
is closed while dbt reads it (attached read-only) and writes the marts file. `run` repeats the
two every GCP_BI_BUILD_SECONDS until stopped (SIGTERM), always between two batches, so a stop
never leaves half a batch: the batch in hand is landed in its transaction, or not at all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import attrs

from gcp_adapters.bi.dbt_run import BuildResult, dbt_build
from gcp_adapters.bi.ingest import Ingest
from gcp_adapters.bi.landing import Landing, landing_path
from gcp_adapters.kafka.embedded import running_address
from gcp_app.errors import ConfigurationError
from gcp_app.settings import Settings

logger = logging.getLogger("gcp.bi")

Say = Callable[[str], None]


@attrs.frozen
class Places:
    """Where BI keeps its files: the marts (GCP_BI_DATABASE) and the landing beside them."""

    marts: Path
    landing: Path

    @classmethod
    def of(cls, settings: Settings) -> Places:
        return cls(settings.bi_database, landing_path(settings.bi_database))


def bootstrap_servers(settings: Settings, given: str | None = None) -> str:
    """The brokers: given, GCP_KAFKA_BOOTSTRAP_SERVERS, or the embedded broker of a running
    local `gcp serve` (as `gcp demo` finds it); ConfigurationError if none."""
    address = given or settings.kafka_bootstrap_servers or running_address(settings.var_dir)
    if not address:
        raise ConfigurationError(
            "no Kafka address: set GCP_KAFKA_BOOTSTRAP_SERVERS, pass --bootstrap, or start "
            "`gcp serve` (embedded broker) in this directory first"
        )
    return address


def topic_vars(settings: Settings) -> dict[str, str]:
    """The topics BI reads, as the dbt project's vars."""
    return {
        "topic_stream": settings.topic_stream,
        "topic_sales_order": settings.topic_sales_order,
        "topic_payments": settings.topic_payments,
        "topic_clients": settings.topic_clients,
    }


def _ingest(settings: Settings, bootstrap: str, landing: Landing) -> Ingest:
    return Ingest(
        bootstrap,
        list(topic_vars(settings).values()),
        f"{settings.kafka_group_id}-bi",
        landing,
    )


def land_until_idle(settings: Settings, bootstrap: str, places: Places) -> int:
    """Lands everything the four topics hold now; returns how many messages were new."""
    with Landing(places.landing) as landing:
        ingest = _ingest(settings, bootstrap, landing)
        try:
            return ingest.catch_up()
        finally:
            ingest.close()


def build_marts(settings: Settings, places: Places, *, quiet: bool = True) -> BuildResult:
    if not places.landing.exists():
        Landing(places.landing).close()  # an empty landing: the marts build empty
    return dbt_build(places.marts, places.landing, topic_vars(settings), quiet=quiet)


def run_forever(
    settings: Settings, bootstrap: str, places: Places, stop: threading.Event, say: Say
) -> None:
    """Lands continuously and rebuilds the marts every GCP_BI_BUILD_SECONDS until `stop`."""
    every = float(settings.bi_build_seconds)
    while not stop.is_set():
        started = time.monotonic()
        with Landing(places.landing) as landing:
            ingest = _ingest(settings, bootstrap, landing)
            try:
                landed = ingest.land_for(every, stop)
            finally:
                ingest.close()
        if stop.is_set():
            break
        result = build_marts(settings, places)
        took = time.monotonic() - started
        say(
            f"bi: landed {landed} messages, marts rebuilt ({result.models} models, "
            f"{result.tests} tests, {len(result.failures)} failures) in {took:.1f} s"
        )
        for failure in result.failures:
            logger.error("bi: %s %s: %s", failure.node, failure.status, failure.message)
