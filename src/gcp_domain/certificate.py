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
from gcp_domain.errors import (
    CvcAlreadyDisclosed,
    CvcNotAvailable,
    InvalidCommand,
    RefundRejected,
    ReversalRejected,
    TransitionNotAllowed,
)
from gcp_domain.money import Money
from gcp_domain.numbers import CertificateNumber
from gcp_domain.vocabulary import (
    CertificateState,
    NotificationChannel,
    NotificationStatus,
    RefundStatus,
    RejectionReason,
)

S = CertificateState


@attrs.frozen
class Reservation:
    by: str
    until: datetime
    idempotency_key: str | None
    order_id: str | None


@attrs.frozen
class Recipient:
    name: str | None = None
    email: str | None = None
    phone: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "email": self.email, "phone": self.phone}


@attrs.frozen
class Issue:
    """What the sale order fixed when the certificate was issued."""

    amount: Money
    channel: str
    order_id: str
    payment_ids: tuple[str, ...]
    client_id: str | None
    recipient: Recipient
    notification_channel: NotificationChannel
    issued_at: datetime
    expires_at: datetime


@attrs.frozen
class Notification:
    notification_id: str
    channel: NotificationChannel
    attempt: int
    status: NotificationStatus
    error: str | None = None
    cvc_disclosed: bool = False


@attrs.frozen
class Redemption:
    payment_id: str
    order_id: str | None
    amount: Decimal
    reversed: Decimal = Decimal(0)

    @property
    def reversible(self) -> Decimal:
        return self.amount - self.reversed


@attrs.frozen
class Lock:
    reason: str
    by: str
    at: datetime
    previous_state: CertificateState


@attrs.frozen
class Refund:
    payment_id: str
    status: RefundStatus
    amount: Decimal | None
    reason: str | None = None


@attrs.frozen
class RedemptionOutcome:
    """What `redeem` decided: applied (with the balance after) or rejected (with the reason)."""

    payment_id: str
    applied: bool
    balance_after: Decimal
    reason: RejectionReason | None = None
    duplicate: bool = False


class GiftCertificate(Aggregate):
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

    class RefundPending(Event):
        TOPIC = "gcp:GiftCertificate.RefundPending"
        payment_id: str
        amount: Decimal | None

    class RefundPendingDetails(Event):
        TOPIC = "gcp:GiftCertificate.RefundPendingDetails"
        payment_id: str
        amount: Decimal | None = None

    class RefundCompleted(Event):
        TOPIC = "gcp:GiftCertificate.RefundCompleted"
        payment_id: str
        amount: Decimal

    class RefundFailed(Event):
        TOPIC = "gcp:GiftCertificate.RefundFailed"
        payment_id: str
        reason: str | None
        amount: Decimal | None = None

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
        return cls(pool=pool, number=number.value, sealed_cvc=sealed_cvc, cause=cause)

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

    def reserve(
        self,
        *,
        by: str,
        until: datetime,
        idempotency_key: str | None,
        order_id: str | None,
        cause: Cause,
    ) -> None:
        self._require(S.AVAILABLE, action="reserve")
        _require_aware(until, "reservedUntil")
        self._reserve(
            reserved_by=by,
            reserved_until=until,
            idempotency_key=idempotency_key,
            order_id=order_id,
            cause=cause,
        )

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

    def release_reservation(self, *, reason: str, cause: Cause) -> bool:
        """Back to the pool. Returns False (and records nothing) if it is not reserved."""
        if self.state is not S.RESERVED:
            if self.state in (S.AVAILABLE,):
                return False
            raise TransitionNotAllowed(f"cannot release a certificate in {self.state}")
        self._release_reservation(reason=reason, cause=cause)
        return True

    @event(ReservationReleased)
    def _release_reservation(self, reason: str, cause: Cause) -> None:
        self.state = S.AVAILABLE
        self.reservation = None
        self.last_cause = cause

    # ------------------------------------------------------------------ issue

    def issue(
        self,
        *,
        amount: Money,
        channel: str,
        order_id: str,
        payment_ids: list[str],
        client_id: str | None,
        recipient: Recipient,
        notification_channel: NotificationChannel,
        issued_at: datetime,
        expires_at: datetime,
        cause: Cause,
    ) -> bool:
        """Issue for a paid sale order. Returns False if this order already issued it.

        A reservation that lapsed before the order arrived does not stop the issue: the channel
        has already handed the number out, so an AVAILABLE certificate is issued too. A
        certificate reserved for another order is not.
        """
        if self.issue_terms is not None:
            if self.issue_terms.order_id == order_id:
                return False
            raise TransitionNotAllowed("the certificate was issued by another order")
        self._require(S.RESERVED, S.AVAILABLE, action="issue")
        reserved_for = self.reservation.order_id if self.reservation else None
        if reserved_for is not None and reserved_for != order_id:
            raise TransitionNotAllowed("the certificate is reserved for another order")
        if amount.is_zero:
            raise InvalidCommand("a certificate is issued for a positive amount")
        if not order_id:
            raise InvalidCommand("an issue needs the sale order's id")
        _require_aware(issued_at, "issuedAt")
        _require_aware(expires_at, "expiresAt")
        if expires_at <= issued_at:
            raise InvalidCommand("expiresAt must be after issuedAt")
        self._issue(
            amount=amount.amount,
            currency=amount.currency,
            channel=channel,
            order_id=order_id,
            payment_ids=list(payment_ids),
            client_id=client_id,
            recipient=recipient.as_dict(),
            notification_channel=NotificationChannel(notification_channel).value,
            issued_at=issued_at,
            expires_at=expires_at,
            cause=cause,
        )
        return True

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

    def request_notification(
        self, *, notification_id: str, channel: NotificationChannel | None = None, cause: Cause
    ) -> bool:
        """Ask CRM to deliver the CVC. Returns False if this notificationId was requested already.

        A new request is allowed once the previous one has a result (a failed delivery is tried
        again with a new notificationId; a delivered one may be re-sent on the customer's asking).
        """
        if self.notification and self.notification.notification_id == notification_id:
            return False
        self._require(S.ACTIVE, action="request a notification for")
        assert self.issue_terms is not None
        channel = NotificationChannel(channel or self.issue_terms.notification_channel)
        if channel is NotificationChannel.NONE:
            raise InvalidCommand("the certificate's notification channel is NONE")
        if self.notification and self.notification.status is NotificationStatus.REQUESTED:
            raise TransitionNotAllowed("a notification request is still open")
        attempt = self.notification.attempt + 1 if self.notification else 1
        self._request_notification(
            notification_id=notification_id, channel=channel.value, attempt=attempt, cause=cause
        )
        return True

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

    def disclose_cvc(self, *, notification_id: str, cause: Cause) -> str:
        """Hands out the sealed CVC once, for the open notification request it names.

        Unknown, closed and mismatching requests all raise the same `CvcNotAvailable`, so the
        answer never tells a caller more than "no".
        """
        note = self.notification
        if note is None or note.notification_id != notification_id:
            raise CvcNotAvailable("no open notification request with that id")
        if note.cvc_disclosed:
            raise CvcAlreadyDisclosed("the CVC of this notification request was disclosed")
        if self.state is not S.ACTIVE or note.status is not NotificationStatus.REQUESTED:
            raise CvcNotAvailable("no open notification request with that id")
        self._disclose_cvc(notification_id=notification_id, cause=cause)
        return self.sealed_cvc

    @event(CvcDisclosed)
    def _disclose_cvc(self, notification_id: str, cause: Cause) -> None:
        assert self.notification is not None
        self.notification = attrs.evolve(self.notification, cvc_disclosed=True)
        self.last_cause = cause

    def record_cvc_lockout(self, *, attempts: int, window_seconds: int, cause: Cause) -> None:
        """Records that the CVC endpoint locked this certificate out after `attempts` failed
        requests within `window_seconds`. The throttling itself is the application's (it knows
        time and callers); the fact belongs to the certificate's history, in any state."""
        if attempts < 1:
            raise InvalidCommand("a lock-out follows at least one failed attempt")
        if window_seconds < 1:
            raise InvalidCommand("a lock-out window is at least one second")
        self._record_cvc_lockout(attempts=attempts, window_seconds=window_seconds, cause=cause)

    @event(CvcLockedOut)
    def _record_cvc_lockout(self, attempts: int, window_seconds: int, cause: Cause) -> None:
        self.cvc_lockouts += 1
        self.last_cause = cause

    def record_notification_result(
        self, *, notification_id: str, sent: bool, error: str | None, cause: Cause
    ) -> bool:
        """CRM's delivery result. Returns False for a repeat of the result already recorded,
        also for an earlier request's (a late redelivery after a new request was opened)."""
        wanted = NotificationStatus.SENT if sent else NotificationStatus.FAILED
        recorded = self.notification_results.get(notification_id)
        if recorded is wanted:
            return False
        if recorded is not None:
            raise TransitionNotAllowed(f"the notification was already recorded as {recorded}")
        note = self.notification
        if note is None or note.notification_id != notification_id:
            raise InvalidCommand("no notification request with that id")
        if sent:
            self._notification_sent(notification_id=notification_id, cause=cause)
        else:
            self._notification_failed(notification_id=notification_id, error=error, cause=cause)
        return True

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

    def redeem(
        self,
        *,
        payment_id: str,
        order_id: str | None,
        amount: Money,
        at: datetime,
        cause: Cause,
    ) -> RedemptionOutcome:
        """Takes `amount` off the balance once per paymentId, or records why it did not."""
        if not payment_id:
            raise InvalidCommand("a redemption is identified by its paymentId")
        _require_aware(at, "at")
        if payment_id in self.redemptions:
            return RedemptionOutcome(payment_id, True, self.balance, duplicate=True)
        if payment_id in self.rejected_payments:
            return RedemptionOutcome(payment_id, False, self.balance, duplicate=True)
        reason = self._redemption_refusal(amount, at)
        if reason is not None:
            self._reject_redemption(
                payment_id=payment_id,
                order_id=order_id,
                amount=amount.amount,
                currency=amount.currency,
                reason=reason.value,
                cause=cause,
            )
            return RedemptionOutcome(payment_id, False, self.balance, reason)
        balance_after = self.balance - amount.amount
        self._apply_redemption(
            payment_id=payment_id,
            order_id=order_id,
            amount=amount.amount,
            balance_after=balance_after,
            cause=cause,
        )
        return RedemptionOutcome(payment_id, True, balance_after)

    def reject_redemption(
        self,
        *,
        payment_id: str,
        order_id: str | None,
        amount: Money,
        reason: RejectionReason,
        cause: Cause,
    ) -> bool:
        """Records a redemption the matcher refused before it reached the balance
        (say, the order line and the payment disagree on the amount)."""
        if not payment_id:
            raise InvalidCommand("a redemption is identified by its paymentId")
        if payment_id in self.redemptions or payment_id in self.rejected_payments:
            return False
        self._reject_redemption(
            payment_id=payment_id,
            order_id=order_id,
            amount=amount.amount,
            currency=amount.currency,
            reason=RejectionReason(reason).value,
            cause=cause,
        )
        return True

    def _redemption_refusal(self, amount: Money, at: datetime) -> RejectionReason | None:
        by_state = {
            S.AVAILABLE: RejectionReason.NOT_ISSUED,
            S.RESERVED: RejectionReason.NOT_ISSUED,
            S.LOCKED: RejectionReason.LOCKED,
            S.REFUND_PENDING: RejectionReason.REFUND_PENDING,
            S.REFUNDED: RejectionReason.REFUNDED,
            S.EXPIRED: RejectionReason.EXPIRED,
            S.CANCELLED: RejectionReason.CANCELLED,
            S.REDEEMED: RejectionReason.FULLY_REDEEMED,
        }
        if self.state in by_state:
            return by_state[self.state]
        assert self.issue_terms is not None
        if at >= self.issue_terms.expires_at:
            return RejectionReason.EXPIRED
        if amount.currency != self.issue_terms.amount.currency:
            return RejectionReason.CURRENCY_MISMATCH
        if amount.is_zero:
            return RejectionReason.INVALID_AMOUNT
        if amount.amount > self.balance:
            return RejectionReason.INSUFFICIENT_BALANCE
        return None

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

    def reverse_redemption(
        self,
        *,
        refund_payment_id: str,
        redemption_payment_id: str,
        amount: Money,
        cause: Cause,
    ) -> bool:
        """Returns up to what that redemption took to the balance, once per refund payment."""
        if refund_payment_id in self.reversals:
            return False
        redemption = self.redemptions.get(redemption_payment_id)
        if redemption is None:
            raise ReversalRejected("no redemption with that paymentId on this certificate")
        assert self.issue_terms is not None
        if amount.currency != self.issue_terms.amount.currency:
            raise ReversalRejected("the reversal's currency differs from the certificate's")
        if amount.is_zero:
            raise ReversalRejected("a reversal returns a positive amount")
        if amount.amount > redemption.reversible:
            raise ReversalRejected(
                f"a reversal returns at most {redemption.reversible} for that redemption"
            )
        working = self.lock.previous_state if self.lock else self.state
        if working not in (S.ACTIVE, S.REDEEMED):
            raise TransitionNotAllowed(f"cannot reverse a redemption on a {self.state} certificate")
        self._reverse_redemption(
            refund_payment_id=refund_payment_id,
            redemption_payment_id=redemption_payment_id,
            amount=amount.amount,
            balance_after=self.balance + amount.amount,
            cause=cause,
        )
        return True

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

    def _check_refund(self, payment_id: str, amount: Decimal | None) -> None:
        if not payment_id:
            raise InvalidCommand("a refund is identified by its paymentId")
        if self.refund and self.refund.payment_id != payment_id and self.state is S.REFUND_PENDING:
            raise RefundRejected("another refund is pending on this certificate")
        self._require(S.ACTIVE, S.REFUND_PENDING, action="refund")
        if amount is not None and amount > self.balance:
            raise RefundRejected("a refund larger than the remaining balance is rejected")

    def start_refund(self, *, payment_id: str, amount: Money | None, cause: Cause) -> bool:
        """REFUND_PENDING: not redeemable until the refund completes or fails.

        Returns False for the pending refund again, and for a refund that has already failed
        or completed: a late redelivery must not reopen it."""
        if payment_id in self.decided_refunds:
            return False
        if self.refund and self.refund.payment_id == payment_id and self.state is S.REFUND_PENDING:
            return False
        self._check_refund(payment_id, self._refund_amount(amount))
        self._refund_pending(payment_id=payment_id, amount=self._refund_amount(amount), cause=cause)
        return True

    def _refund_amount(self, amount: Money | None) -> Decimal | None:
        if amount is None:
            return None
        if self.issue_terms is None:
            # Checked before `_check_refund`, so a not-yet-issued certificate must refuse here.
            raise TransitionNotAllowed(f"cannot refund a certificate in {self.state}")
        if amount.currency != self.issue_terms.amount.currency:
            raise RefundRejected("the refund's currency differs from the certificate's")
        return amount.amount

    @event(RefundPending)
    def _refund_pending(self, payment_id: str, amount: Decimal | None, cause: Cause) -> None:
        self.state = S.REFUND_PENDING
        self.refund = Refund(payment_id, RefundStatus.PENDING, amount)
        self.last_cause = cause

    def refund_needs_details(
        self, *, payment_id: str, amount: Money | None = None, cause: Cause
    ) -> bool:
        """REFUND_PENDING_DETAILS: the refund waits for the buyer's payment details. It may
        arrive before the refund's REFUND_PENDING; the amount is then taken from here."""
        if payment_id in self.decided_refunds:
            return False
        if (
            self.refund
            and self.refund.payment_id == payment_id
            and self.refund.status is RefundStatus.PENDING_DETAILS
        ):
            return False
        known = self._refund_amount(amount)
        self._check_refund(payment_id, known)
        self._refund_pending_details(payment_id=payment_id, amount=known, cause=cause)
        return True

    @event(RefundPendingDetails)
    def _refund_pending_details(
        self, payment_id: str, amount: Decimal | None, cause: Cause
    ) -> None:
        # The amount is a fact of this refund payment: never carried over from another one.
        if amount is None and self.refund and self.refund.payment_id == payment_id:
            amount = self.refund.amount
        self.state = S.REFUND_PENDING
        self.refund = Refund(payment_id, RefundStatus.PENDING_DETAILS, amount)
        self.last_cause = cause

    def complete_refund(self, *, payment_id: str, amount: Money, cause: Cause) -> bool:
        """REFUNDED: the money went back to the buyer; the balance is 0 and the state final."""
        if self.state is S.REFUNDED and self.refund and self.refund.payment_id == payment_id:
            return False
        if amount.is_zero:
            raise RefundRejected("a refund returns a positive amount")
        self._check_refund(payment_id, self._refund_amount(amount))
        self._refund_completed(payment_id=payment_id, amount=amount.amount, cause=cause)
        return True

    @event(RefundCompleted)
    def _refund_completed(self, payment_id: str, amount: Decimal, cause: Cause) -> None:
        self.state = S.REFUNDED
        self.refund = Refund(payment_id, RefundStatus.COMPLETED, amount)
        self.decided_refunds.add(payment_id)
        self.balance = Decimal(0)
        self.last_cause = cause

    def fail_refund(
        self,
        *,
        payment_id: str,
        reason: str | None,
        amount: Money | None = None,
        cause: Cause,
    ) -> bool:
        """The refund did not happen: back to the working state (ACTIVE).

        A failure that arrives before its refund was seen pending is recorded all the same
        (on an ACTIVE certificate), so that the pending, arriving later, records nothing."""
        if payment_id in self.decided_refunds:
            if self.state is S.REFUNDED and self.refund and self.refund.payment_id == payment_id:
                raise TransitionNotAllowed("the refund has completed")
            return False
        if self.state is S.REFUND_PENDING:
            if self.refund is None or self.refund.payment_id != payment_id:
                raise RefundRejected("that is not the pending refund's paymentId")
        else:
            self._require(S.ACTIVE, S.REFUND_PENDING, action="fail the refund of")
        known = self._refund_amount(amount) if amount is not None else None
        self._refund_failed(payment_id=payment_id, reason=reason, amount=known, cause=cause)
        return True

    @event(RefundFailed)
    def _refund_failed(
        self, payment_id: str, reason: str | None, amount: Decimal | None, cause: Cause
    ) -> None:
        if amount is None and self.refund is not None and self.refund.payment_id == payment_id:
            amount = self.refund.amount
        self.state = S.ACTIVE
        self.refund = Refund(payment_id, RefundStatus.FAILED, amount, reason)
        self.decided_refunds.add(payment_id)
        self.last_cause = cause

    # ------------------------------------------------------------------ lock and unlock

    def lock_for(self, *, reason: str, by: str, at: datetime, cause: Cause) -> bool:
        """Support locks an issued certificate for investigation. Idempotent."""
        if self.state is S.LOCKED:
            return False
        if not reason or not reason.strip():
            raise InvalidCommand("a lock needs a reason")
        self._require(S.ACTIVE, S.REDEEMED, action="lock")
        _require_aware(at, "at")
        self._lock(reason=reason, locked_by=by, locked_at=at, cause=cause)
        return True

    @event(Locked)
    def _lock(self, reason: str, locked_by: str, locked_at: datetime, cause: Cause) -> None:
        self.lock = Lock(reason=reason, by=locked_by, at=locked_at, previous_state=self.state)
        self.state = S.LOCKED
        self.last_cause = cause

    def unlock(self, *, reason: str | None, by: str, cause: Cause) -> bool:
        """Back to the previous working state. Idempotent: an unlocked certificate stays as is."""
        if self.state is not S.LOCKED:
            return False
        self._unlock(reason=reason, unlocked_by=by, cause=cause)
        return True

    @event(Unlocked)
    def _unlock(self, reason: str | None, unlocked_by: str, cause: Cause) -> None:
        assert self.lock is not None
        self.state = self.lock.previous_state
        self.lock = None
        self.last_cause = cause

    # ------------------------------------------------------------------ expiry and cancellation

    def expire(self, *, at: datetime, cause: Cause) -> bool:
        """EXPIRED once `expiresAt` has passed. Returns False if not due or already final."""
        _require_aware(at, "at")
        if self.issue_terms is None or at < self.issue_terms.expires_at:
            return False
        # A locked certificate expires only if it was locked while ACTIVE: a fully redeemed
        # one does not expire, locked or not.
        working = self.lock.previous_state if self.lock else self.state
        if self.state not in (S.ACTIVE, S.LOCKED) or working is not S.ACTIVE:
            return False
        self._expire(cause=cause)
        return True

    @event(Expired)
    def _expire(self, cause: Cause) -> None:
        self.state = S.EXPIRED
        self.lock = None
        self.last_cause = cause

    def cancel(self, *, reason: str, cause: Cause) -> bool:
        """Cancels an issued certificate before any redemption (its sale was voided), or voids
        a pool certificate that must never be handed out. Idempotent."""
        if self.state is S.CANCELLED:
            return False
        if self.state is S.RESERVED:
            raise TransitionNotAllowed("a reserved certificate is released, not cancelled")
        working = self.lock.previous_state if self.lock else self.state
        if working not in (S.AVAILABLE, S.ACTIVE) or self.state is S.REFUND_PENDING:
            raise TransitionNotAllowed(f"cannot cancel a certificate in {self.state}")
        if self.redemptions:
            raise TransitionNotAllowed("a certificate with redemptions cannot be cancelled")
        self._cancel(reason=reason, cause=cause)
        return True

    @event(Cancelled)
    def _cancel(self, reason: str, cause: Cause) -> None:
        self.state = S.CANCELLED
        self.balance = Decimal(0)
        self.lock = None
        self.last_cause = cause


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None:
        raise InvalidCommand(f"{name} must carry a timezone")


def event_name(domain_event: Any) -> str:
    """`Issued`, `RedemptionApplied`, ...: the event's class name without the aggregate's."""
    return type(domain_event).__qualname__.rsplit(".", 1)[-1]
