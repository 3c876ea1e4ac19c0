"""The certificate endpoints: reserve, read, CVC, notification results, lock and unlock,
history and the support desk's look-up by number."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Final
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter

from gcp_adapters.http.auth import Principal, Role, access
from gcp_adapters.http.idempotency import IdempotentPost
from gcp_adapters.http.models import (
    CertificateObject,
    CvcOut,
    HistoryEntryOut,
    LockIn,
    NotificationResultIn,
    ReservationOut,
    UnlockIn,
)
from gcp_adapters.http.problems import COMMON, problem_responses
from gcp_adapters.http.rate_limit import rate_limited
from gcp_adapters.http.request_ids import provide_cause
from gcp_app.application import GiftCertificates
from gcp_app.errors import CertificateNotFound
from gcp_app.reservation_desk import ReservationRequest
from gcp_app.use_cases import LockCertificate, RecordNotificationResult, UnlockCertificate
from gcp_domain.cause import Cause
from gcp_domain.stream import rfc3339

STATE_OBJECT: Final = ResponseSpec(
    data_container=CertificateObject,
    description="The certificate's current state object (the shape of the stream's messages)",
    generate_examples=False,
)
HISTORY: Final = ResponseSpec(
    data_container=list[HistoryEntryOut],
    description="Every event of the certificate, oldest first",
    generate_examples=False,
)


def _changes_certificate(path: str, *, summary: str, role: Role) -> post:
    """A POST that changes the certificate and answers 200 with its state object; a retry
    with the same Idempotency-Key gets the same answer. On a thread: the use cases block."""
    return post(
        path,
        operation_class=IdempotentPost,
        sync_to_thread=True,
        status_code=200,
        summary=summary,
        responses={200: STATE_OBJECT, **problem_responses(*COMMON, 404, 409, 422, 503)},
        **access(role),
    )


# Path parameters carry the contract's names, `{id}` and `{notificationId}`, so the OpenAPI
# document names them as the contract does. Litestar binds a path parameter to the handler
# argument of the same name, hence an argument `id` (shadowing the builtin in the handlers
# only; ruff's A rules are not enabled) and a camelCase `notificationId` (N803, allowed).


class CertificatesController(Controller):
    path = "/certificates"
    tags = ["certificates"]  # noqa: RUF012 (Litestar reads a class attribute)

    @get(
        "/next",
        summary="Reserve the next pre-created certificate",
        responses=problem_responses(*COMMON, 404, 409, 422, 429, 503),
        **access(Role.CHANNEL, limits=rate_limited),
    )
    async def reserve_next(
        self,
        gcp: NamedDependency[GiftCertificates],
        request: Request[Principal, Any, Any],
        pool: Annotated[str, QueryParameter(min_length=1, max_length=100)] = "default",
        order_id: Annotated[
            str | None, QueryParameter(name="orderId", min_length=1, max_length=200)
        ] = None,
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="Idempotency-Key", min_length=1, max_length=200)
        ] = None,
    ) -> ReservationOut:
        """Roles: channel. A retry with the same `Idempotency-Key` (per token subject) gets
        the same reservation. An empty pool answers 409 and publishes ISSUE_BLOCKED."""
        # Awaited, not run on a thread: the desk serves concurrent requests in one commit.
        granted = await asyncio.wrap_future(
            gcp.reservation_desk.submit(
                ReservationRequest(
                    pool=pool,
                    channel=request.user.sub,
                    # Not by DI: a second dependency would make Litestar resolve the two in a
                    # task group of their own, two tasks per request.
                    cause=provide_cause(request),
                    order_id=order_id,
                    idempotency_key=idempotency_key,
                )
            )
        )
        until = rfc3339(granted.reserved_until)
        assert until is not None
        return ReservationOut(
            certificate_id=str(granted.certificate_id),
            number=granted.number,
            pool=granted.pool,
            reserved_until=until,
        )

    @get(
        "/{id:uuid}",
        summary="The certificate's current state",
        responses={200: STATE_OBJECT, **problem_responses(*COMMON, 404)},
        **access(Role.CHANNEL, Role.CRM, Role.SUPPORT),
    )
    async def show(
        self,
        gcp: NamedDependency[GiftCertificates],
        id: FromPath[UUID],
    ) -> dict[str, Any]:
        """Roles: channel, crm, support."""
        # Awaited, not run on a thread: concurrent reads share one query at the desk.
        return await asyncio.wrap_future(gcp.reading_desk.submit(id))

    @get(
        "/{id:uuid}/cvc",
        sync_to_thread=True,
        summary="The CVC, once per notification request",
        responses=problem_responses(*COMMON, 404, 410, 429, 503),
        **access(Role.CRM),
    )
    def cvc(
        self,
        gcp: NamedDependency[GiftCertificates],
        cause: NamedDependency[Cause],
        id: FromPath[UUID],
        notification_id: Annotated[
            str, QueryParameter(name="notificationId", min_length=1, max_length=200)
        ],
    ) -> CvcOut:
        """Roles: crm. Only for an issued, unlocked certificate with this open notification
        request; a second call for the same request gets 410. An unknown certificate and a
        wrong notificationId get the same 404. After too many failures on a certificate (or by
        a client) within a window, every request is 429 with Retry-After until it passes."""
        cvc = gcp.cvc.disclose(id, notification_id=notification_id, cause=cause)
        return CvcOut(certificate_id=str(id), notification_id=notification_id, cvc=cvc)

    @_changes_certificate(
        "/{id:uuid}/notifications/{notificationId:str}",
        summary="Record a CVC notification's delivery result",
        role=Role.CRM,
    )
    def notification_result(
        self,
        gcp: NamedDependency[GiftCertificates],
        cause: NamedDependency[Cause],
        id: FromPath[UUID],
        notificationId: FromPath[str],  # noqa: N803 (the contract's camelCase path name)
        data: JSONBody[NotificationResultIn],
    ) -> dict[str, Any]:
        """Roles: crm. The same result again records nothing; a contradicting one is 409."""
        gcp.execute(
            RecordNotificationResult(
                certificate_id=id,
                notification_id=notificationId,
                sent=data.result == "SENT",
                error=data.error,
                cause=cause,
            )
        )
        return gcp.current_object(id)

    @_changes_certificate(
        "/{id:uuid}/actions/lock",
        summary="Lock the certificate (support)",
        role=Role.SUPPORT,
    )
    def lock(
        self,
        gcp: NamedDependency[GiftCertificates],
        cause: NamedDependency[Cause],
        request: Request[Principal, Any, Any],
        id: FromPath[UUID],
        data: JSONBody[LockIn],
    ) -> dict[str, Any]:
        """Roles: support. Idempotent: locking a locked certificate records nothing."""
        gcp.execute(
            LockCertificate(certificate_id=id, reason=data.reason, by=request.user.sub, cause=cause)
        )
        return gcp.current_object(id)

    @_changes_certificate(
        "/{id:uuid}/actions/unlock",
        summary="Unlock the certificate (support)",
        role=Role.SUPPORT,
    )
    def unlock(
        self,
        gcp: NamedDependency[GiftCertificates],
        cause: NamedDependency[Cause],
        request: Request[Principal, Any, Any],
        id: FromPath[UUID],
        data: JSONBody[UnlockIn | None] = None,
    ) -> dict[str, Any]:
        """Roles: support. Back to the working state before the lock. Idempotent."""
        reason = data.reason if data is not None else None
        gcp.execute(
            UnlockCertificate(certificate_id=id, reason=reason, by=request.user.sub, cause=cause)
        )
        return gcp.current_object(id)

    @get(
        "/{id:uuid}/history",
        sync_to_thread=True,
        summary="The certificate's whole event history",
        responses={200: HISTORY, **problem_responses(*COMMON, 404)},
        **access(Role.SUPPORT),
    )
    def history(
        self,
        gcp: NamedDependency[GiftCertificates],
        id: FromPath[UUID],
    ) -> list[dict[str, Any]]:
        """Roles: support. Every event with who (actor), when, why (causation and
        correlation ids) and its details; never a CVC."""
        return [entry.as_json() for entry in gcp.history(id)]

    @get(
        "/",
        sync_to_thread=True,
        summary="Find a certificate by its printed number",
        responses={200: STATE_OBJECT, **problem_responses(*COMMON, 404)},
        **access(Role.SUPPORT),
    )
    def find(
        self,
        gcp: NamedDependency[GiftCertificates],
        number: Annotated[str, QueryParameter(min_length=1, max_length=64)],
    ) -> dict[str, Any]:
        """Roles: support. A malformed number is simply not found."""
        found = gcp.find_by_number(number.replace(" ", ""))
        if found is None:
            raise CertificateNotFound("no such certificate")
        return gcp.current_object(found)
