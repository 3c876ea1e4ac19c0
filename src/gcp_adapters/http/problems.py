"""Errors as RFC 9457 problem details, mapped in this one place.

Every refusal is `application/problem+json` with `type` (a stable URN per kind of error),
`title`, `status`, `detail`, `instance` (the request path) and `requestId`. The domain's and the
application's errors are mapped by their stable `code`; Litestar's own (validation, 401, 403,
unknown route, 405) by class; anything else is a 500 `internal` whose detail says nothing about
its cause (the log has it, under the request id).

Details are the errors' messages, which never hold a secret (a rule of `DomainError`), except
where the message itself would tell too much: whether a certificate exists, or whether a
notification request is open on it, is never told apart (`not-found`, one fixed body).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final

import msgspec
from eventsourcing.persistence import InterfaceError, OperationalError
from litestar import Request, Response
from litestar.exceptions import (
    ClientException,
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap

from gcp_adapters.http.request_ids import request_id
from gcp_adapters.logs import OncePerInterval
from gcp_app.cvc_guard import CvcThrottled
from gcp_app.errors import (
    CertificateNotFound,
    ConcurrentUpdate,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    PoolExhausted,
    PoolNotFound,
    RateLimited,
    ReservationContention,
    ReservationLapsed,
    StoreUnavailable,
    VendorImportRejected,
)
from gcp_domain.errors import (
    CvcAlreadyDisclosed,
    CvcNotAvailable,
    DomainError,
    InvalidCertificateNumber,
    InvalidCommand,
    InvalidMoney,
    RefundRejected,
    ReversalRejected,
    TransitionNotAllowed,
)

logger = logging.getLogger("gcp.http")
refusals = logging.getLogger("gcp.http.refusals")
refusals.addFilter(OncePerInterval())

MEDIA_TYPE: Final = "application/problem+json"
TYPE_PREFIX: Final = "urn:gcp:problem:"


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str
    # A fixed detail replaces the error's message where the message would tell too much.
    detail: str | None = None
    retry_after: int | None = None

    @property
    def uri(self) -> str:
        return TYPE_PREFIX + self.slug


NOT_FOUND: Final = ProblemType("not-found", 404, "Not found", detail="Nothing found here.")

# The store away (found by the store watch, or by a request that waited on it): the detail
# says nothing of the store's address or error, which the log has.
STORE_UNAVAILABLE: Final = ProblemType(
    "store-unavailable",
    503,
    "Store unavailable",
    detail="The event store does not answer; try again shortly.",
    retry_after=5,
)

BY_CODE: Final[dict[str, ProblemType]] = {
    CertificateNotFound.code: NOT_FOUND,
    CvcNotAvailable.code: NOT_FOUND,
    CvcAlreadyDisclosed.code: ProblemType(
        "cvc-already-disclosed", 410, "CVC already disclosed for this notification"
    ),
    # Retry-After is the lock-out's remaining time (the error's `retry_after`).
    CvcThrottled.code: ProblemType(
        "cvc-throttled", 429, "Too many failed CVC requests", retry_after=900
    ),
    PoolExhausted.code: ProblemType("pool-exhausted", 409, "Pool exhausted"),
    # Retry-After is when the caller's bucket has a token again (the error's `retry_after`).
    RateLimited.code: ProblemType(
        "rate-limited", 429, "Too many requests from this caller", retry_after=1
    ),
    PoolNotFound.code: ProblemType("pool-not-found", 404, "Pool not found"),
    TransitionNotAllowed.code: ProblemType(
        "transition-not-allowed", 409, "Not allowed in the certificate's state"
    ),
    InvalidCommand.code: ProblemType("invalid-command", 422, "Invalid command"),
    InvalidMoney.code: ProblemType("invalid-money", 422, "Invalid money"),
    InvalidCertificateNumber.code: ProblemType(
        "invalid-certificate-number", 422, "Invalid certificate number"
    ),
    ReservationLapsed.code: ProblemType("reservation-lapsed", 409, "Reservation lapsed"),
    IdempotencyKeyReused.code: ProblemType(
        "idempotency-key-reused", 422, "Idempotency-Key reused with another request"
    ),
    IdempotencyKeyInFlight.code: ProblemType(
        "idempotency-key-in-flight",
        409,
        "A request with this Idempotency-Key is still running",
        retry_after=1,
    ),
    ReservationContention.code: ProblemType(
        "reservation-contention", 503, "Too many concurrent reservations", retry_after=1
    ),
    ConcurrentUpdate.code: ProblemType(
        "concurrent-update", 503, "The certificate is changing concurrently", retry_after=1
    ),
    VendorImportRejected.code: ProblemType("vendor-import-rejected", 422, "Vendor file rejected"),
    StoreUnavailable.code: STORE_UNAVAILABLE,
    RefundRejected.code: ProblemType("refund-rejected", 409, "Refund rejected"),
    ReversalRejected.code: ProblemType("reversal-rejected", 409, "Reversal rejected"),
}
# Another rule of the domain said no: the request conflicts with what is recorded.
DOMAIN_RULE: Final = ProblemType("domain-rule", 409, "Refused by a business rule")

INVALID_REQUEST: Final = ProblemType(
    "invalid-request", 400, "Invalid request", detail="The request is not valid: see errors."
)
UNAUTHORIZED: Final = ProblemType(
    "unauthorized", 401, "Unauthorized", detail="A valid bearer token is required."
)
FORBIDDEN: Final = ProblemType("forbidden", 403, "Forbidden")
NO_ROUTE: Final = ProblemType("route-not-found", 404, "No such endpoint")
METHOD_NOT_ALLOWED: Final = ProblemType("method-not-allowed", 405, "Method not allowed")
UNSUPPORTED_MEDIA_TYPE: Final = ProblemType(
    "unsupported-media-type",
    415,
    "Unsupported media type",
    detail="A request body is JSON, sent with Content-Type: application/json.",
)
TOO_DEEP: Final = ProblemType(
    "invalid-request", 400, "Invalid request", detail="The JSON body is nested too deeply."
)
# A body the JSON decoder cannot read (cut short, not UTF-8): the decoder's words say where.
NOT_JSON: Final = ProblemType("invalid-request", 400, "Invalid request")
# Our bodies are small (the longest, a reason or an error text, is cut to 1,000 characters).
MAX_BODY_BYTES: Final = 64 * 1024
BODY_TOO_LARGE: Final = ProblemType(
    "body-too-large",
    413,
    "Request body too large",
    detail=f"A request body is at most {MAX_BODY_BYTES} bytes.",
)


class UnsupportedMediaType(ClientException):
    status_code = 415


INTERNAL: Final = ProblemType(
    "internal",
    500,
    "Internal error",
    detail="Something went wrong on our side; quote the request id when you report it.",
)

LITESTAR: Final[tuple[tuple[type[HTTPException], ProblemType], ...]] = (
    (ValidationException, INVALID_REQUEST),
    (NotAuthorizedException, UNAUTHORIZED),
    (PermissionDeniedException, FORBIDDEN),
    (NotFoundException, NO_ROUTE),
    (MethodNotAllowedException, METHOD_NOT_ALLOWED),
    (UnsupportedMediaType, UNSUPPORTED_MEDIA_TYPE),
)

# Litestar's other refusals, by status: a body its decoder cannot read (400, the validation
# errors are matched above), a body over the limit (413).
BY_STATUS: Final[dict[int, ProblemType]] = {
    HTTPStatus.BAD_REQUEST: NOT_JSON,
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: BODY_TOO_LARGE,
}

EVERY_TYPE: Final = (
    *dict.fromkeys(BY_CODE.values()),
    DOMAIN_RULE,
    *(problem for _, problem in LITESTAR),
    BODY_TOO_LARGE,
    INTERNAL,
)


def problem_type_of(exc: Exception) -> ProblemType:
    if isinstance(exc, RecursionError):
        return TOO_DEEP  # msgspec on a body nested a thousand levels deep
    if isinstance(exc, DomainError):
        return BY_CODE.get(exc.code, DOMAIN_RULE)
    if isinstance(exc, OperationalError | InterfaceError):
        return STORE_UNAVAILABLE  # a request that waited on a store that went away
    for cls, problem in LITESTAR:
        if isinstance(exc, cls):
            return problem
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        known = BY_STATUS.get(exc.status_code)
        if known is not None:
            return known
        status = HTTPStatus(exc.status_code)
        return ProblemType(f"http-{status.value}", status.value, status.phrase)
    return INTERNAL


def problem_response(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """The one exception handler of the HTTP API."""
    problem = problem_type_of(exc)
    rid = request_id(request.scope)
    body: dict[str, Any] = {
        "type": problem.uri,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail or _detail(exc),
        "instance": request.url.path,
        "requestId": rid,
    }
    headers: dict[str, str] = {}
    if problem is INVALID_REQUEST and isinstance(exc, ValidationException):
        body["errors"] = _validation_errors(exc)
    elif problem is UNAUTHORIZED:
        headers["WWW-Authenticate"] = "Bearer"
    elif problem is METHOD_NOT_ALLOWED and isinstance(exc, HTTPException):
        headers.update(exc.headers or {})
    if isinstance(exc, CvcThrottled | RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    elif problem.retry_after is not None:
        headers["Retry-After"] = str(problem.retry_after)
    if problem is INTERNAL:
        logger.error(
            "unexpected error in %s %s (request %s)",
            request.method,
            request.url.path,
            rid,
            exc_info=exc,
        )
    else:
        # One line per kind of refusal and route a minute: an empty pool refuses every request
        # (37,315 lines once, for 7 ISSUE_BLOCKED); the metrics count each one by status.
        route = str(request.scope.get("path_template") or "unmatched")
        refusals.info(
            "%s %s refused: %s",
            request.method,
            route,
            problem.slug,
            extra={"path": request.url.path, "requestId": rid},
        )
    return Response(
        content=json.dumps(body, ensure_ascii=False).encode(),
        status_code=problem.status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def _validation_errors(exc: ValidationException) -> list[Any]:
    """What was wrong, parameter by parameter (Litestar's messages, without the request's
    path and query, which the caller knows)."""
    if isinstance(exc.extra, list) and exc.extra:
        return exc.extra
    return [{"message": exc.detail.split(" for path ", 1)[0]}]


def _detail(exc: Exception) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    if isinstance(exc, HTTPException):
        return exc.detail
    return str(exc)


EXCEPTION_HANDLERS: Final[ExceptionHandlersMap] = {Exception: problem_response}


class Problem(msgspec.Struct, rename="camel"):
    """An RFC 9457 problem details object (for the OpenAPI document)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str


# Every endpoint answers these (no token, wrong role, bad parameters).
COMMON: Final = (400, 401, 403)


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The OpenAPI description of an endpoint's problem answers."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=HTTPStatus(status).phrase + " (problem details)",
            media_type=MEDIA_TYPE,
            generate_examples=False,
        )
        for status in statuses
    }
