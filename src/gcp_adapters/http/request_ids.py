"""Request ids: every request has one, every response echoes it, every change records it.

A well-formed incoming `X-Request-Id` (a caller's trace id, up to 128 of `A-Z a-z 0-9 . _ : -`)
is kept, so a channel can follow its call into our stream; anything else is replaced by a fresh
UUID. The id is fixed lazily on first use and kept in the scope's state, so the problem details
of a request refused before any handler ran (401, 404 of an unknown route) carry it too; the
`before_send` hook puts it on every response. `RequestIdLogging` binds it to the logs' context
variable, so log lines written while a request is handled carry it as `requestId`.

What a request changes is recorded with `Cause(actor="http:<sub>", causationId=<request id>,
correlationId=<the request's orderId, else the request id>)`; handlers get it by DI as `cause`.
"""

from __future__ import annotations

import os
import random
import re
from typing import Any, Final
from uuid import UUID

from litestar import Request
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gcp_adapters.http.auth import Principal
from gcp_adapters.logs import request_id_var
from gcp_domain.cause import Cause

HEADER: Final = "x-request-id"
_HEADER_BYTES: Final = HEADER.encode()
_STATE_KEY: Final = "gcp_request_id"
_WELL_FORMED: Final = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def _new_id() -> UUID:
    """A random (version 4) UUID from a generator seeded once from os.urandom: unique like
    uuid4's, but without a system call per request (each lets other threads take the GIL from
    the event loop). A request id is a label, not a secret."""
    return UUID(int=_ids.getrandbits(128), version=4)


_ids: Final = random.Random()  # noqa: S311
os.register_at_fork(after_in_child=_ids.seed)  # A forked worker must not repeat the parent's.


def request_id(scope: Scope) -> str:
    """The request's id, fixed on first use."""
    state: dict[str, Any] = scope.setdefault("state", {})
    found = state.get(_STATE_KEY)
    if isinstance(found, str):
        return found
    incoming = ""
    for name, value in scope.get("headers", ()):
        if name.lower() == _HEADER_BYTES:
            incoming = value.decode("latin-1")
            break
    chosen = incoming if _WELL_FORMED.fullmatch(incoming) else str(_new_id())
    state[_STATE_KEY] = chosen
    return chosen


async def echo_request_id(message: Message, scope: Scope) -> None:
    """`before_send` hook: the id on every HTTP response, errors included (replacing one the
    response may hold already)."""
    if message["type"] == "http.response.start":
        headers = [item for item in message.get("headers", ()) if item[0].lower() != _HEADER_BYTES]
        headers.append((_HEADER_BYTES, request_id(scope).encode("latin-1")))
        message["headers"] = headers


class RequestIdLogging:
    """Binds the request's id to `gcp_adapters.logs.request_id_var` while the request is
    handled, so every log line written for it (on worker threads too) carries `requestId`.
    A plain ASGI middleware: Litestar's `ASGIMiddleware` wrapper costs more than this."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        token = request_id_var.set(request_id(scope))
        try:
            await self.app(scope, receive, send)
        finally:
            request_id_var.reset(token)


def provide_cause(request: Request[Principal, Any, Any]) -> Cause:
    """The cause of what this request changes (DI: `cause`)."""
    rid = request_id(request.scope)
    order_id = request.query_params.get("orderId")
    return Cause(actor=request.user.actor, causation_id=rid, correlation_id=order_id or rid)
