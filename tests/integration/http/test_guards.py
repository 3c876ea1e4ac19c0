"""The endpoints' guards: one a handler, and a coroutine.

Litestar runs a plain-function guard on a worker thread and copies the route handler for every
guard it calls; either, on every request, cost more than the checks themselves (a sync store
guard and a second guard were a third of a read's work). An endpoint that needs guarding gets
exactly one coroutine from `access`.
"""

from __future__ import annotations

import inspect
from typing import Any

from litestar.handlers import HTTPRouteHandler
from litestar.testing import TestClient

# Public endpoints (health, metrics, the API documents) need no guard.
UNGUARDED = {"/health/live", "/health/ready", "/metrics"}


def test_every_guarded_endpoint_has_one_guard_and_it_is_a_coroutine(
    client: TestClient[Any],
) -> None:
    guarded = []
    for route in client.app.routes:
        for handler in getattr(route, "route_handlers", []):
            assert isinstance(handler, HTTPRouteHandler)
            if handler.http_methods == {"OPTIONS"}:
                continue  # Litestar's own answer to OPTIONS (CORS preflight), no data
            guards = [getattr(g, "func", g) for g in handler.resolve_guards()]
            if not guards:
                assert route.path in UNGUARDED or route.path.startswith("/schema"), route.path
                continue
            assert len(guards) == 1, (route.path, guards)
            assert inspect.iscoroutinefunction(guards[0]), (route.path, guards[0])
            guarded.append(route.path)
    assert "/certificates/{id:uuid}" in guarded
    assert "/certificates/next" in guarded
