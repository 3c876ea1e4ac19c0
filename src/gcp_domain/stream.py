"""The GiftCertificate object of GiftCertificates.Stream: a certificate's state after an event.

Pure functions of (aggregate after the event, the event). The eventId derives from the stored
event's identity (aggregate id and version), so publishing the same event again gives the same
eventId and consumers can dedupe.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final
from uuid import NAMESPACE_URL, UUID, uuid5

import attrs

from gcp_domain.certificate import GiftCertificate
from gcp_domain.money import Money
from gcp_domain.numbers import mask
from gcp_domain.pool import CertificatePool
from gcp_domain.vocabulary import CertificateState, StreamStatus

SCHEMA_VERSION: Final = 1
EVENT_ID_NAMESPACE: Final = uuid5(NAMESPACE_URL, "urn:gcp:stream-event")
# What GET /certificates/{id} says of a certificate that was never published (still in its pool).
# The stream itself never carries it: creation is not a published change.
CREATED_STATUS: Final = "CREATED"

JSON = dict[str, Any]
G = GiftCertificate


@attrs.frozen
class Publication:
    """One message for GiftCertificates.Stream: its key, its headers' values and its body."""

    key: str
    event_id: str
    status: str
    value: JSON

    @property
    def headers(self) -> dict[str, str]:
        return {
            "eventId": self.event_id,
            "status": self.status,
            "schemaVersion": str(SCHEMA_VERSION),
        }


def stream_event_id(originator_id: UUID, originator_version: int) -> str:
    return str(uuid5(EVENT_ID_NAMESPACE, f"{originator_id}/{originator_version}"))


def rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _money(amount: Decimal | None, currency: str | None) -> str | None:
    if amount is None or currency is None:
        return None
    return str(Money(amount, currency))


St = StreamStatus


def _redemption_status(certificate: GiftCertificate, event: Any) -> StreamStatus:
    return St.REDEEMED if event.balance_after == 0 else St.PARTIALLY_REDEEMED


def _unlock_status(certificate: GiftCertificate, event: Any) -> StreamStatus:
    # "Published as ACTIVE (or that state)": the working state the lock returned to.
    return StreamStatus(certificate.state)


# Each event class of a certificate, the `status` it publishes. Every event class is either here
# or in UNPUBLISHED (a test checks it), so a new event is never left out of the stream unnoticed.
_STATUS: Final[dict[type, StreamStatus | Callable[[GiftCertificate, Any], StreamStatus]]] = {
    G.Reserved: St.RESERVED,
    G.ReservationReleased: St.RESERVATION_RELEASED,
    G.Issued: St.ISSUED,
    G.NotificationRequested: St.NOTIFICATION_REQUESTED,
    G.NotificationSent: St.NOTIFICATION_SENT,
    G.NotificationFailed: St.NOTIFICATION_FAILED,
    G.RedemptionApplied: _redemption_status,
    G.RedemptionRejected: St.REDEMPTION_REJECTED,
    G.RedemptionReversed: St.REDEMPTION_REVERSED,
    G.RefundPending: St.REFUND_PENDING,
    G.RefundPendingDetails: St.REFUND_PENDING_DETAILS,
    G.RefundCompleted: St.REFUNDED,
    G.RefundFailed: St.ACTIVE,
    G.Locked: St.LOCKED,
    G.Unlocked: _unlock_status,
    G.Expired: St.EXPIRED,
    G.Cancelled: St.CANCELLED,
}
# Recorded, never published (docs/architecture.md, decision 1): a certificate still in its
# pool, the CVC's disclosure and its lock-outs.
UNPUBLISHED: Final = frozenset({G.Created, G.CvcDisclosed, G.CvcLockedOut})

STATUSES: Final = tuple(StreamStatus)


def certificate_status(certificate: GiftCertificate, event: Any) -> str | None:
    """The stream `status` this event publishes, or None if it is not published."""
    status = _STATUS.get(type(event))
    if status is None or isinstance(status, StreamStatus):
        return status
    return status(certificate, event)


def _audit(created_on: datetime, event: Any) -> JSON:
    """The `audit` of a certificate's or a pool's publication: who made this change, when, and
    in answer to which message (the event's Cause)."""
    cause = event.cause
    return {
        "createdAt": rfc3339(created_on),
        "updatedAt": rfc3339(event.timestamp),
        "updatedBy": cause.actor,
        "causationId": cause.causation_id,
        "correlationId": cause.correlation_id,
    }


def _reason(event: Any) -> str | None:
    for attribute in ("reason", "error"):
        value = getattr(event, attribute, None)
        if value is not None:
            return str(value)
    return None


def _operation(certificate: GiftCertificate, event: Any) -> JSON | None:
    currency = certificate.currency
    if isinstance(event, G.Issued):
        return {
            "type": "ISSUE",
            "orderId": event.order_id,
            "paymentId": event.payment_ids[0] if event.payment_ids else None,
            "paymentIds": list(event.payment_ids),
            "amount": _money(event.amount, event.currency),
        }
    if isinstance(event, G.RedemptionApplied):
        return {
            "type": "REDEMPTION",
            "orderId": event.order_id,
            "paymentId": event.payment_id,
            "amount": _money(event.amount, currency),
        }
    if isinstance(event, G.RedemptionRejected):
        # Not a money movement: its own type, so that BI never counts it as a redemption.
        return {
            "type": "REDEMPTION_ATTEMPT",
            "orderId": event.order_id,
            "paymentId": event.payment_id,
            "amount": _money(event.amount, event.currency),
        }
    if isinstance(event, G.RedemptionReversed):
        redemption = certificate.redemptions[event.redemption_payment_id]
        return {
            "type": "REDEMPTION_REVERSAL",
            "orderId": redemption.order_id,
            "paymentId": event.refund_payment_id,
            "refundOf": event.redemption_payment_id,
            "amount": _money(event.amount, currency),
        }
    if isinstance(event, G.RefundCompleted):
        return {
            "type": "REFUND",
            "orderId": certificate.issue_terms.order_id if certificate.issue_terms else None,
            "paymentId": event.payment_id,
            "amount": _money(event.amount, currency),
        }
    return None


def certificate_object(certificate: GiftCertificate, event: Any, status: str) -> JSON:
    """The contract's GiftCertificate object for `certificate` as it is right after `event`."""
    terms = certificate.issue_terms
    currency = certificate.currency
    note = certificate.notification
    lock = certificate.lock
    refund = certificate.refund
    reservation = certificate.reservation
    return {
        "schemaVersion": SCHEMA_VERSION,
        "eventId": stream_event_id(event.originator_id, event.originator_version),
        "status": status,
        "occurredAt": rfc3339(event.timestamp),
        "certificateId": str(certificate.id),
        "number": certificate.number,
        "maskedNumber": mask(certificate.number),
        "pool": certificate.pool,
        "state": str(certificate.state),
        "redeemable": certificate.is_redeemable(event.timestamp),
        "channel": terms.channel if terms else None,
        "orderId": terms.order_id if terms else None,
        "clientId": terms.client_id if terms else None,
        "amount": str(terms.amount) if terms else None,
        "currency": currency,
        "remainingBalance": _money(certificate.balance, currency) if terms else None,
        "issuedAt": rfc3339(terms.issued_at) if terms else None,
        "expiresAt": rfc3339(terms.expires_at) if terms else None,
        "recipient": terms.recipient.as_dict() if terms else None,
        "reservation": (
            {
                "by": reservation.by,
                "until": rfc3339(reservation.until),
                "orderId": reservation.order_id,
            }
            if reservation and certificate.state is CertificateState.RESERVED
            else None
        ),
        "notification": (
            {
                "notificationId": note.notification_id,
                "channel": str(note.channel),
                "status": str(note.status),
                "attempt": note.attempt,
                "error": note.error,
            }
            if note
            else None
        ),
        "lock": {"reason": lock.reason, "by": lock.by, "at": rfc3339(lock.at)} if lock else None,
        "refund": (
            {
                "status": str(refund.status),
                "paymentId": refund.payment_id,
                "amount": _money(refund.amount, currency),
            }
            if refund
            else None
        ),
        "operation": _operation(certificate, event),
        "reason": _reason(event),
        "version": event.originator_version,
        "audit": _audit(certificate.created_on, event),
    }


def certificate_publication(certificate: GiftCertificate, event: Any) -> Publication | None:
    """The stream message for `event` (the certificate as it is right after it), if published."""
    status = certificate_status(certificate, event)
    if status is None:
        return None
    value = certificate_object(certificate, event, status)
    return Publication(
        key=str(certificate.id), event_id=value["eventId"], status=status, value=value
    )


P = CertificatePool
# A pool's events that publish, each with its status; the rest are the pool's own bookkeeping.
_POOL_STATUS: Final[dict[type, StreamStatus]] = {
    P.IssueBlocked: St.ISSUE_BLOCKED,
    P.RanLow: St.POOL_LOW,
}
POOL_UNPUBLISHED: Final = frozenset(
    {P.Created, P.CertificatesAdded, P.LowWatermarkChanged, P.Replenished}
)
# Why a pool publication was made (the contract's `reason`).
POOL_LOW_REASON: Final = "BELOW_LOW_WATERMARK"


def pool_publication(pool: CertificatePool, event: Any) -> Publication | None:
    """ISSUE_BLOCKED or POOL_LOW, keyed by the pool's name; POOL_LOW also says how many
    certificates were left (`available`) and the pool's `lowWatermark`. Other pool events are
    not published."""
    status = _POOL_STATUS.get(type(event))
    if status is None:
        return None
    event_id = stream_event_id(event.originator_id, event.originator_version)
    value: JSON = dict.fromkeys(_EMPTY_CERTIFICATE_KEYS)
    value.update(
        {
            "schemaVersion": SCHEMA_VERSION,
            "eventId": event_id,
            "status": status,
            "occurredAt": rfc3339(event.timestamp),
            "pool": pool.name,
            "redeemable": False,
            "reason": event.reason if status is St.ISSUE_BLOCKED else POOL_LOW_REASON,
            "version": event.originator_version,
            "audit": _audit(pool.created_on, event),
        }
    )
    if status is St.POOL_LOW:
        value.update({"available": event.available, "lowWatermark": event.low_watermark})
    return Publication(key=pool.name, event_id=event_id, status=status, value=value)


_EMPTY_CERTIFICATE_KEYS: Final = (
    "certificateId", "number", "maskedNumber", "state", "channel", "orderId", "clientId",
    "amount", "currency", "remainingBalance", "issuedAt", "expiresAt", "recipient",
    "reservation", "notification", "lock", "refund", "operation",
)  # fmt: skip


def publication(aggregate: object, event: Any) -> Publication | None:
    """The stream message for any stored event of the application, if it publishes one."""
    if isinstance(aggregate, GiftCertificate):
        return certificate_publication(aggregate, event)
    if isinstance(aggregate, CertificatePool):
        return pool_publication(aggregate, event)
    return None
