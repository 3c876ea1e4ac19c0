"""Liveness and readiness, open to anyone (no token): what an orchestrator probes.

`/health/live` says the process answers. `/health/ready` runs every readiness check (each a
name and a function that raises when its dependency does not answer) and says 503 if any fails;
the answer names the checks and, for a `NotReady` (the relay stalled, the consumer not polling),
its reason; never an unexpected error's text (the log has it). The store is checked
here; the Kafka check joins through `readiness_checks` (and `/metrics` next to these routes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

from litestar import Controller, Response, get
from litestar.di import NamedDependency

from gcp_adapters.http.auth import ANONYMOUS
from gcp_adapters.http.models import LiveOut, ReadyOut
from gcp_app.application import GiftCertificates
from gcp_app.store_watch import StoreWatch

logger = logging.getLogger("gcp.http.health")

ReadinessCheck = Callable[[], None]


class NotReady(Exception):
    """A readiness check's failure whose message is safe to show (no secret, no input)."""


# Open to anyone: no token asked (the auth middleware skips it), none declared in OpenAPI.
OPEN: Final[dict[str, Any]] = {"security": ANONYMOUS, "opt": {"exclude_from_auth": True}}


def store_check(gcp: GiftCertificates, watch: StoreWatch | None = None) -> ReadinessCheck:
    """The store answers: the watch's last probe when there is one (no wait on a store that is
    away), else a query."""

    def check() -> None:
        why = watch.unavailable() if watch is not None and watch.watches else None
        if why is not None:
            raise NotReady(why)
        if watch is None or not watch.watches:
            gcp.store.recorder.max_notification_id()

    return check


def not_stalled(stalled: Callable[[], str | None]) -> ReadinessCheck:
    """A check of a part that says why it is stalled (`Relay.stalled`, ...), or None."""

    def check() -> None:
        why = stalled()
        if why is not None:
            raise NotReady(why)

    return check


def readiness_checks(
    gcp: GiftCertificates, watch: StoreWatch | None = None
) -> dict[str, ReadinessCheck]:
    """The checks of /health/ready; add a dependency here (Kafka, say) to make it count."""
    return {"store": store_check(gcp, watch)}


def run_checks(checks: Mapping[str, ReadinessCheck]) -> ReadyOut:
    results: dict[str, Literal["ok", "failing"]] = {}
    reasons: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
        except NotReady as not_ready:
            logger.warning("readiness check %s failed: %s", name, not_ready)
            results[name] = "failing"
            reasons[name] = str(not_ready)
        except Exception:
            logger.exception("readiness check %s failed", name)
            results[name] = "failing"
        else:
            results[name] = "ok"
    ok = all(result == "ok" for result in results.values())
    return ReadyOut(status="ok" if ok else "unavailable", checks=results, reasons=reasons or None)


class HealthController(Controller):
    path = "/health"
    tags = ["health"]  # noqa: RUF012 (Litestar reads a class attribute)

    @get("/live", sync_to_thread=False, summary="The process answers", **OPEN)
    def live(self) -> LiveOut:
        return LiveOut(status="ok")

    @get(
        "/ready",
        sync_to_thread=True,
        summary="Every dependency answers (503 if not)",
        **OPEN,
    )
    def ready(self, readiness: NamedDependency[dict[str, ReadinessCheck]]) -> Response[ReadyOut]:
        answer = run_checks(readiness)
        return Response(answer, status_code=200 if answer.status == "ok" else 503)
