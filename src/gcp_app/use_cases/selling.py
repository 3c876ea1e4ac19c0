"""Selling a certificate: issue it for a paid order, release its reservation, cancel it.

Asked for by the inbound matching (an order paid, failed or cancelled: CONTRACTS.md rule 1)
and by the reservation timer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import attrs

from gcp_app.use_cases.command import CertificateCommand, Context
from gcp_app.use_cases.unit_of_work import UnitOfWork
from gcp_domain.certificate_values import Recipient
from gcp_domain.money import Money
from gcp_domain.vocabulary import CertificateState, NotificationChannel

# The release reason of a reservation that was not issued in time.
RESERVATION_TIMEOUT: Final = "RESERVATION_TIMEOUT"


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


@attrs.frozen(kw_only=True)
class IssueCertificate(CertificateCommand[bool]):
    """Issue the certificate for a paid sale order. `notification_channel` and
    `validity_days` left out take the defaults (gcp_app.defaults)."""

    amount: Money
    channel: str
    order_id: str
    payment_ids: tuple[str, ...] = attrs.field(converter=_strings)
    client_id: str | None
    recipient: Recipient
    notification_channel: NotificationChannel | None = None
    validity_days: int | None = None


def issue_certificate(context: Context, work: UnitOfWork, command: IssueCertificate) -> bool:
    """ISSUED; then, unless its channel is NONE, CRM is asked to deliver the CVC
    (NOTIFICATION_REQUESTED). False if this order issued it already."""
    certificate = work.certificate(command.certificate_id)
    issued_at = context.clock.now()
    channel = context.defaults.channel_or_default(command.notification_channel)
    issued = certificate.issue(
        amount=command.amount,
        channel=command.channel,
        order_id=command.order_id,
        payment_ids=list(command.payment_ids),
        client_id=command.client_id,
        recipient=command.recipient,
        notification_channel=channel,
        issued_at=issued_at,
        expires_at=issued_at + context.defaults.validity_of(command.validity_days),
        cause=command.cause,
    )
    if issued and channel is not NotificationChannel.NONE:
        certificate.request_notification(
            notification_id=context.notification_ids.for_request(certificate.id, 1),
            cause=command.cause,
        )
    return issued


@attrs.frozen(kw_only=True)
class ReleaseReservation(CertificateCommand[bool]):
    """Back to the pool (the order's payment failed, or it was cancelled, before issue)."""

    reason: str


def release_reservation(context: Context, work: UnitOfWork, command: ReleaseReservation) -> bool:
    certificate = work.certificate(command.certificate_id)
    return certificate.release_reservation(reason=command.reason, cause=command.cause)


@attrs.frozen(kw_only=True)
class ReleaseLapsedReservation(CertificateCommand[bool]):
    """The reservation timer's: release only if still RESERVED past its reservedUntil."""


def release_lapsed_reservation(
    context: Context, work: UnitOfWork, command: ReleaseLapsedReservation
) -> bool:
    """RESERVATION_TIMEOUT, only if the certificate is still RESERVED and its reservedUntil
    has passed on the clock. False otherwise (released or issued meanwhile, or reserved again
    since), so a second timer instance, or a stale deadline, records nothing."""
    certificate = work.certificate(command.certificate_id)
    held = certificate.reservation
    if (
        certificate.state is not CertificateState.RESERVED
        or held is None
        or held.until > context.clock.now()
    ):
        return False
    return certificate.release_reservation(reason=RESERVATION_TIMEOUT, cause=command.cause)


@attrs.frozen(kw_only=True)
class CancelCertificate(CertificateCommand[bool]):
    """The sale was voided (after issue, before any redemption), or a pool certificate must
    never be sold."""

    reason: str


def cancel_certificate(context: Context, work: UnitOfWork, command: CancelCertificate) -> bool:
    certificate = work.certificate(command.certificate_id)
    return certificate.cancel(reason=command.reason, cause=command.cause)
