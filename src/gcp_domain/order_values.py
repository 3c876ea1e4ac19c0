"""The sale order's values: the facts it keeps, what is due, and the decisions taken."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

import attrs

from gcp_domain.vocabulary import (
    PAYMENT_FAILED,
    PAYMENT_SUCCEEDED,
    DecisionOutcome,
    PaymentEvent,
)

GIFT_CERTIFICATE: Final = "GIFT_CERTIFICATE"


@attrs.frozen
class CertificateLine:
    """A certificate sold by the order (its `giftCertificates` line)."""

    certificate_id: str
    amount: Decimal
    validity_days: int | None
    notification_channel: str
    recipient: dict[str, str | None] | None

    def as_fact(self) -> dict[str, Any]:
        return {
            "certificateId": self.certificate_id,
            "amount": str(self.amount),
            "validityDays": self.validity_days,
            "notificationChannel": self.notification_channel,
            "recipient": self.recipient,
        }

    @classmethod
    def from_fact(cls, fact: dict[str, Any]) -> CertificateLine:
        return cls(
            certificate_id=fact["certificateId"],
            amount=Decimal(fact["amount"]),
            validity_days=fact["validityDays"],
            notification_channel=fact["notificationChannel"],
            recipient=fact["recipient"],
        )


@attrs.frozen
class Payment:
    """What the order knows of one payment: every event type reported for its paymentId."""

    payment_id: str
    method: str
    amount: Decimal
    currency: str
    certificate_number: str | None
    refund_of: str | None
    types: frozenset[PaymentEvent]

    @property
    def by_certificate(self) -> bool:
        return self.method == GIFT_CERTIFICATE

    @property
    def succeeded(self) -> bool:
        # A failure or void of the paymentId outranks its success, whichever arrived first.
        return bool(self.types & PAYMENT_SUCCEEDED) and not self.types & PAYMENT_FAILED


# ---------------------------------------------------------------------- what is due


@attrs.frozen
class IssueDue:
    line: CertificateLine


@attrs.frozen
class ReleaseDue:
    certificate_id: str


@attrs.frozen
class CancelDue:
    certificate_id: str
    reason: str


@attrs.frozen
class RedemptionDue:
    payment: Payment
    matched: bool  # False: the order's lines name this certificate for other amounts only


@attrs.frozen
class RefundStepDue:
    payment: Payment
    certificate_id: str
    step: PaymentEvent


@attrs.frozen
class ReversalDue:
    payment: Payment


Due = IssueDue | ReleaseDue | CancelDue | RedemptionDue | RefundStepDue | ReversalDue


@attrs.frozen
class RefundStep:
    """The subject of a refund decision: one step of one refund payment."""

    payment_id: str
    step: PaymentEvent

    def __str__(self) -> str:
        return f"{self.payment_id}/{self.step}"

    @classmethod
    def parse(cls, subject: str) -> RefundStep:
        # From the right: a paymentId may hold a "/", a step never does.
        payment_id, step = subject.rsplit("/", 1)
        return cls(payment_id, PaymentEvent(step))


# What a decision is about: a certificateId (issue, release, cancel), a paymentId
# (redemption, reversal) or a refund step.
Subject = str | RefundStep


@attrs.frozen
class Decision:
    outcome: DecisionOutcome
    reason: str | None
    certificate_id: str | None

    @property
    def done(self) -> bool:
        return self.outcome is DecisionOutcome.DONE
