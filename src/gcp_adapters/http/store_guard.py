"""The store's availability as a check of every guarded endpoint: 503 at once while the store
watch says the store does not answer, instead of a request held until its statement times out.
"""

from __future__ import annotations

from typing import Any, Final

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from gcp_app.errors import StoreUnavailable
from gcp_app.store_watch import StoreWatch

# Where the app's state holds the store watch (create_http_app), for the check.
STORE_WATCH_KEY: Final = "store_watch"


async def store_available(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Raises StoreUnavailable while the store does not answer (no watch: always passes).
    A coroutine, as every check must be: Litestar runs a sync guard on a worker thread."""
    watch: StoreWatch | None = connection.app.state.get(STORE_WATCH_KEY)
    if watch is not None:
        why = watch.unavailable()
        if why is not None:
            raise StoreUnavailable(why)
