"""`Idempotency-Key` on every POST, in this one place (a middleware registered in app.py).

Without the header a request passes through. With it (1 to 200 characters), keyed by (token
subject, method, path, key):

- an answer is stored and the request is the same (fingerprint: method, path, query and the
  canonical JSON body): the stored status and body are sent again, with
  `Idempotent-Replayed: true`, and the handler does not run (no second effect);
- an answer is stored for another request: `422 urn:gcp:problem:idempotency-key-reused`;
- the key is claimed by a request still running: `409 urn:gcp:problem:idempotency-key-in-flight`
  with `Retry-After: 1` (another request: 422, as above);
- no answer yet: the key is claimed (saved) before the handler runs, so of two concurrent first
  requests only one runs. A `2xx`, or a `4xx` business refusal (a problem type of the domain's
  or the application's errors), is recorded on the claim before it is sent. Anything else
  releases the claim, so that a retry runs: `5xx` (retryable: 503 contention, 500), 400/401/
  403/404-route/405 (the request never reached a rule; a corrected request may reuse the key).
  A claim never answered nor released (its process died) is taken over after
  `CLAIM_TIMEOUT` by the same request.

The record is an event-sourced `AnsweredRequest` (gcp_app.idempotency), so keys outlive a
restart and hold across processes. `GET /certificates/next` has its own, stronger idempotency
(a `ReservationKey` claim saved with the reservation) and is not handled here; the CVC
endpoint, a GET, is never recorded.

The OpenAPI document declares the header on every POST through `IdempotentPost`, each POST
handler's `operation_class`: a declaration only, the handlers never see the header (Litestar
neither reads nor validates it; this middleware does).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Final

import anyio.to_thread
from litestar.enums import ScopeType
from litestar.exceptions import ValidationException
from litestar.openapi.spec import OpenAPIType, Operation, Parameter, Schema
from litestar.types import (
    ASGIApp,
    HTTPRequestEvent,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Message,
    Receive,
    ReceiveMessage,
    Scope,
    Send,
)

from gcp_adapters.http.auth import Principal
from gcp_adapters.http.problems import BY_CODE, DOMAIN_RULE, MEDIA_TYPE
from gcp_adapters.http.request_ids import request_id
from gcp_app.application import GiftCertificates
from gcp_app.idempotency import (
    Answer,
    AnsweredRequest,
    RequestKey,
    claim_request,
    fingerprint,
    record_answer,
    release_claim,
)
from gcp_domain.cause import Cause

logger = logging.getLogger("gcp.http")

HEADER: Final = b"idempotency-key"
REPLAYED: Final = b"idempotent-replayed"
MAX_KEY_LENGTH: Final = 200
# The refusals worth keeping: a business rule's answer, which a retry would get again anyway
# (not one that says "try again later").
BUSINESS_PROBLEMS: Final = frozenset(
    {p.uri for p in BY_CODE.values() if 400 <= p.status < 500 and p.retry_after is None}
    | {DOMAIN_RULE.uri}
)


KEY_DESCRIPTION: Final = (
    "Optional, 1 to 200 characters, per token subject. The same key with the same request "
    "(method, path, query and JSON body) gets the first response again (status and body, with "
    "`Idempotent-Replayed: true`) and has no second effect; the same key with another request "
    "is 422 `urn:gcp:problem:idempotency-key-reused`; while the first request with the key is "
    "still running, the key is 409 `urn:gcp:problem:idempotency-key-in-flight` (`Retry-After`). "
    "Keys are stored with the events, so they outlive restarts."
)


@dataclass
class IdempotentPost(Operation):
    """A POST's OpenAPI operation: Litestar's, plus the optional `Idempotency-Key` header that
    `IdempotentPosts` honours. Given to every POST handler as its `operation_class`."""

    def __post_init__(self) -> None:
        self.parameters = [
            *(self.parameters or ()),
            Parameter(
                name="Idempotency-Key",
                param_in="header",
                required=False,
                schema=Schema(type=OpenAPIType.STRING, min_length=1, max_length=MAX_KEY_LENGTH),
                description=KEY_DESCRIPTION,
            ),
        ]


def worth_keeping(status: int, content_type: str, body: str) -> bool:
    if 200 <= status < 300:
        return True
    if not (400 <= status < 500 and content_type.startswith(MEDIA_TYPE)):
        return False
    try:
        problem = json.loads(body)
    except ValueError:
        return False
    return isinstance(problem, dict) and problem.get("type") in BUSINESS_PROBLEMS


class IdempotentPosts:
    """Replays the stored answer of a POST sent again with the same `Idempotency-Key`. A plain
    ASGI middleware, so that every other request (a GET) passes at the cost of one test."""

    def __init__(self, app: ASGIApp, application: GiftCertificates) -> None:
        self.app = app
        self.application = application

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        next_app = self.app
        if scope["type"] != ScopeType.HTTP or scope["method"] != "POST":
            await next_app(scope, receive, send)
            return
        key = _header(scope, HEADER)
        user = scope.get("user")
        if key is None or not isinstance(user, Principal):
            await next_app(scope, receive, send)
            return
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise ValidationException(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
        body = await _read_body(receive)
        path = scope["path"]
        wanted = RequestKey(subject=user.sub, method="POST", path=path, key=key)
        printed = fingerprint("POST", path, scope.get("query_string", b"").decode("latin-1"), body)

        rid = request_id(scope)
        cause = Cause(user.actor, rid, rid)
        now = self.application.clock.now()
        claimed = await anyio.to_thread.run_sync(
            lambda: claim_request(self.application.store, wanted, printed, at=now, cause=cause)
        )
        if isinstance(claimed, Answer):
            await _send_answer(send, claimed, replayed=True)
            return

        try:
            start, raw = await _run_buffered(scope, body, receive, send, next_app)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._release(claimed, path, cause)
            raise
        status: int = start["status"]
        content_type = (_message_header(start, b"content-type") or "").strip()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None or not worth_keeping(status, content_type, text):
            await self._release(claimed, path, cause)
            await send(start)
            await send(HTTPResponseBodyEvent(type="http.response.body", body=raw, more_body=False))
            return
        answer = Answer(printed, status, text, content_type)
        try:
            kept = await anyio.to_thread.run_sync(
                lambda: record_answer(self.application.store, claimed, answer, cause=cause)
            )
        except Exception:  # The effect is done: answer it, even if the record failed.
            logger.exception("could not record the answer of POST %s (request %s)", path, rid)
            kept = answer
        if kept is not answer and kept.fingerprint == printed:
            await _send_answer(send, kept, replayed=True)  # A taker of our stale claim answered.
        else:
            await _send_answer(send, answer, replayed=False)

    async def _release(self, claimed: AnsweredRequest, path: str, cause: Cause) -> None:
        """Gives the key back; a failure only delays the next run (the claim goes stale)."""
        try:
            await anyio.to_thread.run_sync(
                lambda: release_claim(self.application.store, claimed, cause=cause)
            )
        except Exception:
            logger.exception(
                "could not release the Idempotency-Key of POST %s (request %s)",
                path,
                cause.causation_id,
            )


async def _run_buffered(
    scope: Scope, body: bytes, receive: Receive, send: Send, next_app: ASGIApp
) -> tuple[HTTPResponseStartEvent, bytes]:
    """Runs the handler on the body already read; returns its response start and whole body,
    not sent yet."""
    delivered = False

    async def again() -> ReceiveMessage:
        nonlocal delivered
        if not delivered:
            delivered = True
            return HTTPRequestEvent(type="http.request", body=body, more_body=False)
        return await receive()

    starts: list[HTTPResponseStartEvent] = []
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.start":
            starts.append(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
        else:
            await send(message)

    await next_app(scope, again, capture)
    if not starts:
        raise RuntimeError("the handler sent no response")
    return starts[0], b"".join(chunks)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send_answer(send: Send, answer: Answer, *, replayed: bool) -> None:
    body = answer.body.encode("utf-8")
    headers = [
        (b"content-type", answer.content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode()),
    ]
    if replayed:
        headers.append((REPLAYED, b"true"))
    await send(
        HTTPResponseStartEvent(type="http.response.start", status=answer.status, headers=headers)
    )
    await send(HTTPResponseBodyEvent(type="http.response.body", body=body, more_body=False))


def _header(scope: Scope, name: bytes) -> str | None:
    for header, value in scope.get("headers", ()):
        if header.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _message_header(message: HTTPResponseStartEvent, name: bytes) -> str | None:
    for header, value in message.get("headers", ()):
        if header.lower() == name:
            return str(value.decode("latin-1"))
    return None
