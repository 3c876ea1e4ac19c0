"""The business's words for where a certificate rests and what can happen to it."""

from __future__ import annotations

from enum import StrEnum


class CertificateState(StrEnum):
    """Where a certificate rests (the stream's `state`)."""

    AVAILABLE = "AVAILABLE"
    RESERVED = "RESERVED"
    ACTIVE = "ACTIVE"
    LOCKED = "LOCKED"
    REFUND_PENDING = "REFUND_PENDING"
    REDEEMED = "REDEEMED"
    REFUNDED = "REFUNDED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


ISSUED_STATES = frozenset(CertificateState) - {
    CertificateState.AVAILABLE,
    CertificateState.RESERVED,
}
FINAL_STATES = frozenset(
    {CertificateState.REFUNDED, CertificateState.EXPIRED, CertificateState.CANCELLED}
)


class NotificationChannel(StrEnum):
    EMAIL = "EMAIL"
    SMS = "SMS"
    NONE = "NONE"


class NotificationStatus(StrEnum):
    REQUESTED = "REQUESTED"
    SENT = "SENT"
    FAILED = "FAILED"


class RefundStatus(StrEnum):
    PENDING = "PENDING"
    PENDING_DETAILS = "PENDING_DETAILS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class RejectionReason(StrEnum):
    """Why a redemption did not take money (the stream's `reason` on REDEMPTION_REJECTED)."""

    NOT_ISSUED = "NOT_ISSUED"
    LOCKED = "LOCKED"
    EXPIRED = "EXPIRED"
    REFUND_PENDING = "REFUND_PENDING"
    REFUNDED = "REFUNDED"
    CANCELLED = "CANCELLED"
    FULLY_REDEEMED = "FULLY_REDEEMED"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
    INVALID_AMOUNT = "INVALID_AMOUNT"


class PaymentEvent(StrEnum):
    """What an All_Payments message says happened to a payment (its `eventType`)."""

    PAYMENT_AUTHORIZED = "PAYMENT_AUTHORIZED"
    PAYMENT_CAPTURED = "PAYMENT_CAPTURED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    PAYMENT_VOIDED = "PAYMENT_VOIDED"
    REDEMPTION = "REDEMPTION"
    REFUND_PENDING = "REFUND_PENDING"
    REFUND_PENDING_DETAILS = "REFUND_PENDING_DETAILS"
    REFUND_COMPLETED = "REFUND_COMPLETED"
    REFUND_FAILED = "REFUND_FAILED"


PAYMENT_SUCCEEDED = frozenset({PaymentEvent.PAYMENT_AUTHORIZED, PaymentEvent.PAYMENT_CAPTURED})
PAYMENT_FAILED = frozenset({PaymentEvent.PAYMENT_FAILED, PaymentEvent.PAYMENT_VOIDED})
# The steps of a refund in the order they happen, whatever order they arrive in.
REFUND_STEPS = (
    PaymentEvent.REFUND_PENDING,
    PaymentEvent.REFUND_PENDING_DETAILS,
    PaymentEvent.REFUND_COMPLETED,
    PaymentEvent.REFUND_FAILED,
)


class DecisionKind(StrEnum):
    """What a sale order decided about a certificate (the values are stored: never change)."""

    ISSUE = "issue"
    RELEASE = "release"
    CANCEL = "cancel"
    REDEMPTION = "redemption"
    REFUND = "refund"
    REVERSAL = "reversal"


class DecisionOutcome(StrEnum):
    """Whether the certificate took the change (stored values: never change)."""

    DONE = "done"
    REFUSED = "refused"


class StreamStatus(StrEnum):
    """What just happened, as GiftCertificates.Stream says it (the contract's `status`)."""

    RESERVED = "RESERVED"
    RESERVATION_RELEASED = "RESERVATION_RELEASED"
    ISSUED = "ISSUED"
    NOTIFICATION_REQUESTED = "NOTIFICATION_REQUESTED"
    NOTIFICATION_SENT = "NOTIFICATION_SENT"
    NOTIFICATION_FAILED = "NOTIFICATION_FAILED"
    PARTIALLY_REDEEMED = "PARTIALLY_REDEEMED"
    REDEEMED = "REDEEMED"
    REDEMPTION_REJECTED = "REDEMPTION_REJECTED"
    REDEMPTION_REVERSED = "REDEMPTION_REVERSED"
    REFUND_PENDING = "REFUND_PENDING"
    REFUND_PENDING_DETAILS = "REFUND_PENDING_DETAILS"
    REFUNDED = "REFUNDED"
    LOCKED = "LOCKED"
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"
    ISSUE_BLOCKED = "ISSUE_BLOCKED"
    POOL_LOW = "POOL_LOW"
