"""The HTTP API's composition: controllers, auth, request ids, problem details, OpenAPI."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.types import Middleware

from gcp_adapters.http import api_docs
from gcp_adapters.http.auth import jwt_auth
from gcp_adapters.http.certificates import CertificatesController
from gcp_adapters.http.health import (
    HealthController,
    ReadinessCheck,
    readiness_checks,
)
from gcp_adapters.http.idempotency import IdempotentPosts
from gcp_adapters.http.metrics import HttpMetrics, MetricsController, MetricsSources
from gcp_adapters.http.pools import PoolsController
from gcp_adapters.http.problems import EXCEPTION_HANDLERS, MAX_BODY_BYTES
from gcp_adapters.http.rate_limit import STATE_KEY, CallerRate, MemoryBuckets
from gcp_adapters.http.request_ids import RequestIdLogging, echo_request_id, provide_cause
from gcp_adapters.http.store_guard import STORE_WATCH_KEY
from gcp_adapters.http.strict_input import strict_requests
from gcp_app.application import GiftCertificates
from gcp_app.store_watch import StoreWatch


def _version() -> str:
    try:
        return package_version("gcp")
    except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "0.0.0"


def create_http_app(
    application: GiftCertificates,
    *,
    jwt_secret: str,
    readiness: Mapping[str, ReadinessCheck] | None = None,
    metrics: MetricsSources | None = None,
    rate: CallerRate | None = None,
    store_watch: StoreWatch | None = None,
) -> Litestar:
    """The Litestar app over `application`. `readiness` replaces the default checks of
    /health/ready (the store) when the service knows more dependencies; `metrics` gives
    /metrics the consumer's and the relay's counters when this process runs them; `rate`
    limits reservations per caller (default: GCP_RATE_PER_SECOND in this process);
    `store_watch` lets the endpoints answer 503 at once while the store is away."""
    if rate is None:
        rate = MemoryBuckets(application.settings.rate_per_second)
    checks = dict(
        readiness if readiness is not None else readiness_checks(application, store_watch)
    )
    http_metrics = HttpMetrics(application, metrics)

    def provide(value: object) -> Provide:
        return Provide(_constant(value), use_cache=True, sync_to_thread=False)

    return Litestar(
        route_handlers=[
            CertificatesController,
            PoolsController,
            HealthController,
            MetricsController,
            *api_docs.ROUTES,
        ],
        dependencies={
            "gcp": provide(application),
            "readiness": provide(checks),
            "http_metrics": provide(http_metrics),
            "cause": Provide(provide_cause, sync_to_thread=False),
        },
        # Timing and the log context wrap authentication too, so a 401 is timed and logged
        # under its request id.
        on_app_init=[
            jwt_auth(jwt_secret).on_app_init,
            _outermost(http_metrics.middleware(), RequestIdLogging),
        ],
        # Inside authentication (it needs the token's subject): Idempotency-Key on POSTs. The
        # roles are checked by each endpoint's guard, inside it: a refusal releases the claim.
        middleware=[DefineMiddleware(IdempotentPosts, application=application)],
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=strict_requests,
        state=State({STATE_KEY: rate, STORE_WATCH_KEY: store_watch}),
        on_shutdown=[rate.close],
        before_send=[echo_request_id],
        openapi_config=OpenAPIConfig(
            title="GCP",
            version=_version(),
            description="GCP, the Gift Certificate Platform: reservations, certificate state, "
            "the one-time CVC, support actions and pools. Errors are RFC 9457 problem details.",
            path="/schema",
            render_plugins=api_docs.render_plugins(),
        ),
        request_max_body_size=MAX_BODY_BYTES,
        # The process configures logging (gcp serve, tests); the app must not redo it.
        logging_config=None,
        debug=False,
    )


def _outermost(*middleware: Middleware) -> Callable[[AppConfig], AppConfig]:
    """An `on_app_init` hook putting `middleware` before every other (auth included)."""

    def hook(config: AppConfig) -> AppConfig:
        config.middleware[:0] = middleware
        return config

    return hook


def _constant(value: object) -> Callable[[], object]:
    def dependency() -> object:
        return value

    return dependency
