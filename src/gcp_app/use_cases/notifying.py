"""The CVC notification: CRM is asked to deliver the CVC, fetches it once per request and
reports the delivery (CONTRACTS.md rule 5), over All_Clients or HTTP alike."""

from __future__ import annotations

from uuid import uuid4

import attrs

from gcp_app.use_cases.command import CertificateCommand, Context
from gcp_app.use_cases.unit_of_work import UnitOfWork
from gcp_domain.vocabulary import NotificationChannel


@attrs.frozen(kw_only=True)
class RequestNotification(CertificateCommand[str]):
    """Open a new notification request (after the previous one has its result); answers its
    notificationId (a new random one unless given)."""

    notification_id: str | None = None
    channel: NotificationChannel | None = None


def request_notification(context: Context, work: UnitOfWork, command: RequestNotification) -> str:
    wanted = command.notification_id or str(uuid4())
    work.certificate(command.certificate_id).request_notification(
        notification_id=wanted, channel=command.channel, cause=command.cause
    )
    return wanted


@attrs.frozen(kw_only=True)
class RecordNotificationResult(CertificateCommand[bool]):
    """CRM's delivery result: SENT (`sent`) or FAILED with its `error`."""

    notification_id: str
    sent: bool
    error: str | None = None


def record_notification_result(
    context: Context, work: UnitOfWork, command: RecordNotificationResult
) -> bool:
    """False for a repeat of a result already recorded."""
    return work.certificate(command.certificate_id).record_notification_result(
        notification_id=command.notification_id,
        sent=command.sent,
        error=command.error,
        cause=command.cause,
    )


@attrs.frozen(kw_only=True)
class DiscloseCvc(CertificateCommand[str]):
    """Hand out the CVC once per open notification request. Answers the SEALED CVC: only
    gcp_app.cvc unseals it, for the caller, after its throttle let the request through."""

    notification_id: str


def disclose_cvc(context: Context, work: UnitOfWork, command: DiscloseCvc) -> str:
    return work.certificate(command.certificate_id).disclose_cvc(
        notification_id=command.notification_id, cause=command.cause
    )


@attrs.frozen(kw_only=True)
class RecordCvcLockout(CertificateCommand[None]):
    """The CVC endpoint locked the certificate out after `attempts` failures (recorded, not
    published)."""

    attempts: int
    window_seconds: int


def record_cvc_lockout(context: Context, work: UnitOfWork, command: RecordCvcLockout) -> None:
    work.certificate(command.certificate_id).record_cvc_lockout(
        attempts=command.attempts, window_seconds=command.window_seconds, cause=command.cause
    )
