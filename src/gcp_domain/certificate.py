"""The GiftCertificate aggregate: its whole lifecycle as events.

Public command methods check the rules and then call a private `@event` method that only changes
state. Replaying stored events runs the private methods alone, so a rule tightened later never
breaks the replay of history. Commands that find nothing to do (a duplicate delivery, a second
lock) record nothing and return quietly; commands that break a rule raise a `DomainError` and
record nothing either.

Events carry only plain values (str, Decimal, datetime, lists and dicts of those) plus `Cause`,
so that the stored form stays readable and stable; state objects are rebuilt in the apply methods.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs
from eventsourcing.domain import Aggregate, event

from gcp_domain.cause import Cause
from gcp_domain.certificate_values import (
    Issue,
    Lock,
    Notification,
    Recipient,
    Redemption,
    Refund,
    Reservation,
)
from gcp_domain.errors import (
    InvalidCommand,
    TransitionNotAllowed,
)
from gcp_domain.money import Money
from gcp_domain.numbers import CertificateNumber
from gcp_domain.rules import (
    NotificationRules,
    RedemptionRules,
    RefundRules,
    SaleRules,
    SupportRules,
)
from gcp_domain.vocabulary import (
    CertificateState,
    NotificationChannel,
    NotificationStatus,
    RefundStatus,
)

S = CertificateState


class GiftCertificate(
    SaleRules, NotificationRules, RedemptionRules, RefundRules, SupportRules, Aggregate
):
    TOPIC = "gcp:GiftCertificate"

    class Event(Aggregate.Event):
        cause: Cause

    class Created(Event, Aggregate.Created):
        TOPIC = "gcp:GiftCertificate.Created"
        pool: str
        number: str
        sealed_cvc: str

    class Reserved(Event):
        TOPIC = "gcp:GiftCertificate.Reserved"
        reserved_by: str
        reserved_until: datetime
        idempotency_key: str | None
        order_id: str | None

    class ReservationReleased(Event):
        TOPIC = "gcp:GiftCertificate.ReservationReleased"
        reason: str

    class Issued(Event):
        TOPIC = "gcp:GiftCertificate.Issued"
        amount: Decimal
        currency: str
        channel: str
        order_id: str
        payment_ids: list[str]
        client_id: str | None
        recipient: dict[str, str | None]
        notification_channel: str
        issued_at: datetime
        expires_at: datetime

    class NotificationRequested(Event):
        TOPIC = "gcp:GiftCertificate.NotificationRequested"
        notification_id: str
        channel: str
        attempt: int

    class CvcDisclosed(Event):
        TOPIC = "gcp:GiftCertificate.CvcDisclosed"
        notification_id: str

    class CvcLockedOut(Event):
        """Too many failed CVC requests within a window: the CVC endpoint refuses for a while.
        Recorded for audits, never published (like CvcDisclosed)."""

        TOPIC = "gcp:GiftCertificate.CvcLockedOut"
        attempts: int
        window_seconds: int

    class NotificationSent(Event):
        TOPIC = "gcp:GiftCertificate.NotificationSent"
        notification_id: str

    class NotificationFailed(Event):
        TOPIC = "gcp:GiftCertificate.NotificationFailed"
        notification_id: str
        error: str | None

    class RedemptionApplied(Event):
        TOPIC = "gcp:GiftCertificate.RedemptionApplied"
        payment_id: str
        order_id: str | None
        amount: Decimal
        balance_after: Decimal

    class RedemptionRejected(Event):
        TOPIC = "gcp:GiftCertificate.RedemptionRejected"
        payment_id: str
        order_id: str | None
        amount: Decimal
        currency: str
        reason: str

    class RedemptionReversed(Event):
        TOPIC = "gcp:GiftCertificate.RedemptionReversed"
        refund_payment_id: str
        redemption_payment_id: str
        amount: Decimal
        balance_after: Decimal

    # `refund_of` (since 1.1; None on events stored before): the sale payment a step names.
    class RefundPending(Event):
        TOPIC = "gcp:GiftCertificate.RefundPending"
        payment_id: str
        amount: Decimal | None
        refund_of: str | None = None

    class RefundPendingDetails(Event):
        TOPIC = "gcp:GiftCertificate.RefundPendingDetails"
        payment_id: str
        amount: Decimal | None = None
        refund_of: str | None = None

    class RefundCompleted(Event):
        TOPIC = "gcp:GiftCertificate.RefundCompleted"
        payment_id: str
        amount: Decimal
        refund_of: str | None = None

    class RefundFailed(Event):
        TOPIC = "gcp:GiftCertificate.RefundFailed"
        payment_id: str
        reason: str | None
        amount: Decimal | None = None
        refund_of: str | None = None

    class Locked(Event):
        TOPIC = "gcp:GiftCertificate.Locked"
        reason: str
        locked_by: str
        locked_at: datetime

    class Unlocked(Event):
        TOPIC = "gcp:GiftCertificate.Unlocked"
        reason: str | None
        unlocked_by: str

    class Expired(Event):
        TOPIC = "gcp:GiftCertificate.Expired"

    class Cancelled(Event):
        TOPIC = "gcp:GiftCertificate.Cancelled"
        reason: str

    # ------------------------------------------------------------------ creation

    @classmethod
    def create(
        cls, *, pool: str, number: CertificateNumber, sealed_cvc: str, cause: Cause
    ) -> GiftCertificate:
        """A new certificate in a pool. The CVC arrives sealed: the domain never sees it."""
        if not pool or not pool.strip():
            raise InvalidCommand("a certificate belongs to a named pool")
        if not sealed_cvc:
            raise InvalidCommand("a certificate needs its sealed CVC")
        # A typed name: the library's constructor returns Any to some mypy versions.
        created: GiftCertificate = cls(
            pool=pool, number=number.value, sealed_cvc=sealed_cvc, cause=cause
        )
        return created

    @event(Created)
    def __init__(self, pool: str, number: str, sealed_cvc: str, cause: Cause) -> None:
        self.pool = pool
        self.number = number
        self.sealed_cvc = sealed_cvc
        self.state = S.AVAILABLE
        self.reservation: Reservation | None = None
        self.issue_terms: Issue | None = None
        self.balance = Decimal(0)
        self.redemptions: dict[str, Redemption] = {}
        self.rejected_payments: set[str] = set()
        self.reversals: set[str] = set()
        self.notification: Notification | None = None
        self.notification_results: dict[str, NotificationStatus] = {}
        self.decided_refunds: set[str] = set()
        self.lock: Lock | None = None
        self.refund: Refund | None = None
        self.cvc_lockouts = 0
        self.last_cause = cause

    # ------------------------------------------------------------------ queries

    @property
    def currency(self) -> str | None:
        return self.issue_terms.amount.currency if self.issue_terms else None

    @property
    def working_state(self) -> CertificateState:
        """The state a lock keeps (and unlocking returns to), else the state itself."""
        return self.lock.previous_state if self.lock else self.state

    @property
    def is_issued(self) -> bool:
        return self.issue_terms is not None

    @property
    def redeemed_total(self) -> Decimal:
        return sum((r.amount for r in self.redemptions.values()), Decimal(0))

    @property
    def reversed_total(self) -> Decimal:
        return sum((r.reversed for r in self.redemptions.values()), Decimal(0))

    def is_redeemable(self, at: datetime) -> bool:
        """True only in ACTIVE before `expiresAt` with a positive balance."""
        return (
            self.state is S.ACTIVE
            and self.issue_terms is not None
            and at < self.issue_terms.expires_at
            and self.balance > 0
        )

    def _require(self, *states: CertificateState, action: str) -> None:
        if self.state not in states:
            allowed = ", ".join(states)
            raise TransitionNotAllowed(f"cannot {action} a certificate in {self.state} ({allowed})")

    # ------------------------------------------------------------------ reservation

    @event(Reserved)
    def _reserve(
        self,
        reserved_by: str,
        reserved_until: datetime,
        idempotency_key: str | None,
        order_id: str | None,
        cause: Cause,
    ) -> None:
        self.state = S.RESERVED
        self.reservation = Reservation(reserved_by, reserved_until, idempotency_key, order_id)
        self.last_cause = cause

    @event(ReservationReleased)
    def _release_reservation(self, reason: str, cause: Cause) -> None:
        self.state = S.AVAILABLE
        self.reservation = None
        self.last_cause = cause

    # ------------------------------------------------------------------ issue

    @event(Issued)
    def _issue(
        self,
        amount: Decimal,
        currency: str,
        channel: str,
        order_id: str,
        payment_ids: list[str],
        client_id: str | None,
        recipient: dict[str, str | None],
        notification_channel: str,
        issued_at: datetime,
        expires_at: datetime,
        cause: Cause,
    ) -> None:
        self.state = S.ACTIVE
        self.issue_terms = Issue(
            amount=Money(amount, currency),
            channel=channel,
            order_id=order_id,
            payment_ids=tuple(payment_ids),
            client_id=client_id,
            recipient=Recipient(**recipient),
            notification_channel=NotificationChannel(notification_channel),
            issued_at=issued_at,
            expires_at=expires_at,
        )
        self.balance = amount
        self.reservation = None
        self.last_cause = cause

    # ------------------------------------------------------------------ notification and CVC

    @event(NotificationRequested)
    def _request_notification(
        self, notification_id: str, channel: str, attempt: int, cause: Cause
    ) -> None:
        self.notification = Notification(
            notification_id=notification_id,
            channel=NotificationChannel(channel),
            attempt=attempt,
            status=NotificationStatus.REQUESTED,
        )
        self.last_cause = cause

    @event(CvcDisclosed)
    def _disclose_cvc(self, notification_id: str, cause: Cause) -> None:
        assert self.notification is not None
        self.notification = attrs.evolve(self.notification, cvc_disclosed=True)
        self.last_cause = cause

    @event(CvcLockedOut)
    def _record_cvc_lockout(self, attempts: int, window_seconds: int, cause: Cause) -> None:
        self.cvc_lockouts += 1
        self.last_cause = cause

    @event(NotificationSent)
    def _notification_sent(self, notification_id: str, cause: Cause) -> None:
        assert self.notification is not None
        self.notification = attrs.evolve(self.notification, status=NotificationStatus.SENT)
        self.notification_results[notification_id] = NotificationStatus.SENT
        self.last_cause = cause

    @event(NotificationFailed)
    def _notification_failed(self, notification_id: str, error: str | None, cause: Cause) -> None:
        assert self.notification is not None
        self.notification = attrs.evolve(
            self.notification, status=NotificationStatus.FAILED, error=error
        )
        self.notification_results[notification_id] = NotificationStatus.FAILED
        self.last_cause = cause

    # ------------------------------------------------------------------ redemption

    @event(RedemptionApplied)
    def _apply_redemption(
        self,
        payment_id: str,
        order_id: str | None,
        amount: Decimal,
        balance_after: Decimal,
        cause: Cause,
    ) -> None:
        self.redemptions[payment_id] = Redemption(payment_id, order_id, amount)
        self.balance = balance_after
        if balance_after == 0:
            self.state = S.REDEEMED
        self.last_cause = cause

    @event(RedemptionRejected)
    def _reject_redemption(
        self,
        payment_id: str,
        order_id: str | None,
        amount: Decimal,
        currency: str,
        reason: str,
        cause: Cause,
    ) -> None:
        self.rejected_payments.add(payment_id)
        self.last_cause = cause

    @event(RedemptionReversed)
    def _reverse_redemption(
        self,
        refund_payment_id: str,
        redemption_payment_id: str,
        amount: Decimal,
        balance_after: Decimal,
        cause: Cause,
    ) -> None:
        redemption = self.redemptions[redemption_payment_id]
        self.redemptions[redemption_payment_id] = attrs.evolve(
            redemption, reversed=redemption.reversed + amount
        )
        self.reversals.add(refund_payment_id)
        self.balance = balance_after
        if self.lock is not None:
            self.lock = attrs.evolve(self.lock, previous_state=S.ACTIVE)
        else:
            self.state = S.ACTIVE
        self.last_cause = cause

    # ------------------------------------------------------------------ refund of the purchase

    def _known_refund_amount(
        self, payment_id: str, refund_of: str | None, amount: Decimal | None
    ) -> Decimal | None:
        """The amount is a fact of this refund: never carried over from another one."""
        refund = self.refund
        if amount is None and refund is not None and refund.has_step(payment_id, refund_of):
            return refund.amount
        return amount

    @event(RefundPending)
    def _refund_pending(
        self, payment_id: str, amount: Decimal | None, refund_of: str | None, cause: Cause
    ) -> None:
        self.state = S.REFUND_PENDING
        self.refund = Refund(payment_id, RefundStatus.PENDING, amount, refund_of=refund_of)
        self.last_cause = cause

    @event(RefundPendingDetails)
    def _refund_pending_details(
        self, payment_id: str, amount: Decimal | None, refund_of: str | None, cause: Cause
    ) -> None:
        amount = self._known_refund_amount(payment_id, refund_of, amount)
        self.state = S.REFUND_PENDING
        self.refund = Refund(payment_id, RefundStatus.PENDING_DETAILS, amount, refund_of=refund_of)
        self.last_cause = cause

    @event(RefundCompleted)
    def _refund_completed(
        self, payment_id: str, amount: Decimal, refund_of: str | None, cause: Cause
    ) -> None:
        self.state = S.REFUNDED
        self.refund = Refund(payment_id, RefundStatus.COMPLETED, amount, refund_of=refund_of)
        self.decided_refunds.add(payment_id)
        self.balance = Decimal(0)
        self.last_cause = cause

    @event(RefundFailed)
    def _refund_failed(
        self,
        payment_id: str,
        reason: str | None,
        amount: Decimal | None,
        refund_of: str | None,
        cause: Cause,
    ) -> None:
        amount = self._known_refund_amount(payment_id, refund_of, amount)
        self.state = S.ACTIVE
        self.refund = Refund(payment_id, RefundStatus.FAILED, amount, reason, refund_of)
        self.decided_refunds.add(payment_id)
        self.last_cause = cause

    # ------------------------------------------------------------------ lock and unlock

    @event(Locked)
    def _lock(self, reason: str, locked_by: str, locked_at: datetime, cause: Cause) -> None:
        self.lock = Lock(reason=reason, by=locked_by, at=locked_at, previous_state=self.state)
        self.state = S.LOCKED
        self.last_cause = cause

    @event(Unlocked)
    def _unlock(self, reason: str | None, unlocked_by: str, cause: Cause) -> None:
        assert self.lock is not None
        self.state = self.lock.previous_state
        self.lock = None
        self.last_cause = cause

    # ------------------------------------------------------------------ expiry and cancellation

    @event(Expired)
    def _expire(self, cause: Cause) -> None:
        self.state = S.EXPIRED
        self.lock = None
        self.last_cause = cause

    @event(Cancelled)
    def _cancel(self, reason: str, cause: Cause) -> None:
        self.state = S.CANCELLED
        self.balance = Decimal(0)
        self.lock = None
        self.last_cause = cause


def event_name(domain_event: Any) -> str:
    """`Issued`, `RedemptionApplied`, ...: the event's class name without the aggregate's."""
    return type(domain_event).__qualname__.rsplit(".", 1)[-1]
