"""The reference model: the written rules for one gift certificate, in plain Python.

`LifecycleModel` is written from the contract (/work/shared/CONTRACTS.md) and
docs/architecture.md (the lifecycle diagram; "Where CONTRACTS.md is silent", decisions 1-9),
never from `gcp_domain.certificate`: it imports nothing of the aggregate, so a mistake in the
aggregate's rules is not also in the model. Each rule quotes the sentence it comes from; where
the documents say nothing, the comment says "Silent:" and what the model assumes.

Its formulation is deliberately not the aggregate's: the certificate is at a `Position` of the
diagram (LOCKED over ACTIVE and LOCKED over REDEEMED are two), `rules.ALLOWED_FROM` says from
where each operation may change it, `rules.REFUSAL_BY_POSITION` says why a redemption is
rejected there, and a redemption is judged where the certificate would rest once the expiry
timer had run (decision 5: the timer's lag never changes the answer).

Where the domain did not do what the documents say, the model found it and the domain was put
right (tests/property/test_written_rules.py keeps those scenarios).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Final

import attrs

from gcp_domain.money import Money
from gcp_domain.testing.rules import (
    ALLOWED_FROM,
    LOCKED,
    REFUSAL_BY_POSITION,
    Operation,
    Position,
)
from gcp_domain.vocabulary import (
    CertificateState,
    NotificationChannel,
    NotificationStatus,
    RefundStatus,
    RejectionReason,
)

P = Position
ZERO: Final = Decimal(0)


class Expect(Enum):
    """What the model says a command will do."""

    RECORDS = "records one event"
    NOTHING = "records nothing and returns quietly (a repeat, or nothing to do)"
    REFUSED = "raises DomainError and records nothing"


@attrs.define
class ModelRedemption:
    amount: Decimal
    reversed: Decimal = ZERO

    @property
    def reversible(self) -> Decimal:
        return self.amount - self.reversed


@attrs.define
class ModelRefund:
    payment_id: str
    status: RefundStatus
    amount: Decimal | None

    @property
    def is_open(self) -> bool:
        return self.status in (RefundStatus.PENDING, RefundStatus.PENDING_DETAILS)


@attrs.define
class ModelNotification:
    notification_id: str
    status: NotificationStatus
    attempt: int
    cvc_disclosed: bool = False
    channel: NotificationChannel | None = None


@attrs.define
class LifecycleModel:
    """The written rules for one certificate, independent of the aggregate.

    Each command method returns what the command should do (`Expect`) and, when it records an
    event, moves the model on and sets `announced`, the stream status the change publishes. A
    refused or idle command leaves the model as it was.
    """

    position: Position = P.AVAILABLE
    reserved_for: str | None = None
    issue_order: str | None = None
    face_value: Decimal | None = None
    currency: str | None = None
    notification_channel: NotificationChannel | None = None
    expires_at: datetime | None = None
    balance: Decimal = ZERO
    redemptions: dict[str, ModelRedemption] = attrs.Factory(dict)
    rejected: set[str] = attrs.Factory(set)
    reversals: set[str] = attrs.Factory(set)
    notification: ModelNotification | None = None
    notification_results: dict[str, NotificationStatus] = attrs.Factory(dict)
    refund: ModelRefund | None = None
    decided_refunds: set[str] = attrs.Factory(set)
    # Decision 1: creation is recorded, not published.
    announced: str | None = None

    # ---------------------------------------------------------------- queries

    @property
    def state(self) -> CertificateState:
        return self.position.state

    @property
    def locked_from(self) -> CertificateState | None:
        """The state a lock remembers, None when not locked."""
        return self.position.locked_over

    @property
    def working_state(self) -> CertificateState:
        """The state a lock returns to, or the state itself when not locked."""
        return self.position.locked_over or self.position.state

    @property
    def issued(self) -> bool:
        return self.issue_order is not None

    @property
    def conserved(self) -> bool:
        """Audit: "amount = balance + redeemed - reversed while it is neither refunded,
        cancelled nor expired". Expiry keeps the balance (decision 5), so it holds there too."""
        return self.position not in (P.REFUNDED, P.CANCELLED)

    @property
    def redeemed_total(self) -> Decimal:
        return sum((r.amount for r in self.redemptions.values()), ZERO)

    @property
    def reversed_total(self) -> Decimal:
        return sum((r.reversed for r in self.redemptions.values()), ZERO)

    def _allowed(self, operation: Operation) -> bool:
        return self.position in ALLOWED_FROM[operation]

    def position_at(self, at: datetime) -> Position:
        """Where the certificate rests at `at` once the expiry timer has run. Decision 5: "A
        redemption at or after expiresAt is rejected with EXPIRED even before the timer has run"."""
        due = self.expires_at is not None and at >= self.expires_at
        if not due or not self._allowed(Operation.EXPIRE):
            return self.position
        return P.EXPIRED

    def redeemable(self, at: datetime) -> bool:
        """`redeemable` "is true only in ACTIVE before expiresAt with a positive balance"."""
        return self.position_at(at) is P.ACTIVE and self.balance > 0

    def redemption_refusal(self, amount: Money, at: datetime) -> RejectionReason | None:
        """Why a redemption of `amount` at `at` is rejected, or None if it takes the money."""
        position = self.position_at(at)
        if position in REFUSAL_BY_POSITION:
            return REFUSAL_BY_POSITION[position]
        # "one certificate has one currency"; rule 2: "amount or currency mismatch". Silent on a
        # zero amount in another currency: the currency is judged first.
        if amount.currency != self.currency:
            return RejectionReason.CURRENCY_MISMATCH
        # Decision 6: "INVALID_AMOUNT (zero)".
        if amount.is_zero:
            return RejectionReason.INVALID_AMOUNT
        # Rule 2: "A redeemable certificate with enough balance gives ..."
        if amount.amount > self.balance:
            return RejectionReason.INSUFFICIENT_BALANCE
        return None

    def _records(self, announced: str | None) -> Expect:
        self.announced = announced
        return Expect.RECORDS

    # ---------------------------------------------------------------- reservation and issue

    def reserve(self, order_id: str | None) -> Expect:
        if not self._allowed(Operation.RESERVE):
            return Expect.REFUSED
        self.position, self.reserved_for = P.RESERVED, order_id
        return self._records("RESERVED")

    def release(self) -> Expect:
        # "nothing to do ... records nothing": a certificate in its pool has nothing to release.
        if self.position is P.AVAILABLE:
            return Expect.NOTHING
        if not self._allowed(Operation.RELEASE):
            return Expect.REFUSED  # Rule 1: after issue a failed payment cancels instead.
        self.position, self.reserved_for = P.AVAILABLE, None
        return self._records("RESERVATION_RELEASED")

    def issue(
        self,
        order_id: str,
        amount: Money,
        issued_at: datetime,
        expires_at: datetime,
        notification_channel: NotificationChannel,
    ) -> Expect:
        if self.issue_order is not None:
            # Every order message repeats the whole order: its issue again is a redelivery.
            # Decision 2: a certificate "issued by another order is refused".
            return Expect.NOTHING if self.issue_order == order_id else Expect.REFUSED
        if not self._allowed(Operation.ISSUE):
            return Expect.REFUSED
        # Decision 2: "A certificate reserved for another order ... is refused."
        if self.reserved_for not in (None, order_id):
            return Expect.REFUSED
        # Silent: a sale names its order, for a positive amount, valid for some time.
        if amount.is_zero or not order_id or expires_at <= issued_at:
            return Expect.REFUSED
        self.position, self.reserved_for, self.issue_order = P.ACTIVE, None, order_id
        self.face_value = self.balance = amount.amount
        self.currency = amount.currency
        self.expires_at = expires_at
        self.notification_channel = notification_channel
        return self._records("ISSUED")

    # ---------------------------------------------------------------- notification and CVC

    def _requested_before(self, notification_id: str) -> bool:
        """Every request but the open one has a result (decision 9: a new request comes "once
        the previous has a result")."""
        note = self.notification
        current = note is not None and note.notification_id == notification_id
        return current or notification_id in self.notification_results

    def request_notification(
        self, notification_id: str, channel: NotificationChannel | None = None
    ) -> Expect:
        # Decision 9: "a new request (new notificationId, attempt + 1)": a notificationId
        # already requested is a redelivery.
        if self._requested_before(notification_id):
            return Expect.NOTHING
        if not self._allowed(Operation.REQUEST_NOTIFICATION):
            return Expect.REFUSED
        # Decision 9: "A certificate issued with notification channel NONE gets no request."
        if self.notification_channel is NotificationChannel.NONE:
            return Expect.REFUSED
        # Silent: a request by channel NONE has nothing to be delivered by.
        if channel is NotificationChannel.NONE:
            return Expect.REFUSED
        # Decision 9: "one open request at a time".
        note = self.notification
        if note is not None and note.status is NotificationStatus.REQUESTED:
            return Expect.REFUSED
        self.notification = ModelNotification(
            notification_id,
            NotificationStatus.REQUESTED,
            attempt=note.attempt + 1 if note else 1,
            channel=channel or self.notification_channel,
        )
        return self._records("NOTIFICATION_REQUESTED")

    def disclose_cvc(self, notification_id: str) -> Expect:
        # The CVC endpoint: "The CVC, for the notification request it names, once ... Only for
        # issued, unlocked certificates with an open notification request." Decision 9: "The
        # CVC is disclosed once per request."
        note = self.notification
        if note is None or note.notification_id != notification_id:
            return Expect.REFUSED
        if note.status is not NotificationStatus.REQUESTED or note.cvc_disclosed:
            return Expect.REFUSED
        if not self._allowed(Operation.DISCLOSE_CVC):
            return Expect.REFUSED
        note.cvc_disclosed = True
        return self._records(None)  # Decision 1: CVC disclosure is recorded, not published.

    def notification_result(self, notification_id: str, *, sent: bool) -> Expect:
        wanted = NotificationStatus.SENT if sent else NotificationStatus.FAILED
        # Decision 9: "A result repeated for an earlier request records nothing; one that
        # contradicts what was recorded is refused."
        recorded = self.notification_results.get(notification_id)
        if recorded is not None:
            return Expect.NOTHING if recorded is wanted else Expect.REFUSED
        # A result answers the open request (matching.md: an unknown notificationId is
        # dead-lettered).
        note = self.notification
        if note is None or note.notification_id != notification_id:
            return Expect.REFUSED
        if not self._allowed(Operation.RECORD_NOTIFICATION_RESULT):
            return Expect.REFUSED
        note.status = wanted
        self.notification_results[notification_id] = wanted
        return self._records(f"NOTIFICATION_{wanted}")

    # ---------------------------------------------------------------- redemption

    def redeem(
        self, payment_id: str, amount: Money, at: datetime
    ) -> tuple[Expect, bool, RejectionReason | None]:
        """(expectation, applied?, rejection reason). A repeat records nothing and answers as
        the first time did (applied or not)."""
        # Decision 6: "A paymentId is decided once: a redelivery of an applied or rejected
        # redemption records nothing."
        if payment_id in self.redemptions:
            return Expect.NOTHING, True, None
        if payment_id in self.rejected:
            return Expect.NOTHING, False, None
        reason = self.redemption_refusal(amount, at)
        if reason is not None:
            # Rule 2: "Otherwise the balance stays and GCP publishes REDEMPTION_REJECTED".
            self.rejected.add(payment_id)
            return self._records("REDEMPTION_REJECTED"), False, reason
        # Rule 2: "gives PARTIALLY_REDEEMED (balance left) or REDEEMED (balance 0)".
        self.redemptions[payment_id] = ModelRedemption(amount.amount)
        self.balance -= amount.amount
        if self.balance == 0:
            self.position = P.REDEEMED
            return self._records("REDEEMED"), True, None
        return self._records("PARTIALLY_REDEEMED"), True, None

    def reject_redemption(self, payment_id: str) -> Expect:
        """The matcher's rejection (say AMOUNT_MISMATCH), wherever the certificate rests."""
        if payment_id in self.redemptions or payment_id in self.rejected:
            return Expect.NOTHING  # Decision 6: "A paymentId is decided once".
        self.rejected.add(payment_id)
        return self._records("REDEMPTION_REJECTED")

    def reverse_redemption(
        self, refund_payment_id: str, redemption_payment_id: str, amount: Money
    ) -> Expect:
        # Decision 7: "once per refund paymentId".
        if refund_payment_id in self.reversals:
            return Expect.NOTHING
        # Rule 4: "refundOf naming a redemption's paymentId": an applied redemption.
        redemption = self.redemptions.get(redemption_payment_id)
        if redemption is None or amount.currency != self.currency:
            return Expect.REFUSED
        # Decision 7: "Reversal returns at most what that redemption took (cumulated over
        # several reversals)". Silent on zero: returning nothing is no reversal.
        if amount.is_zero or amount.amount > redemption.reversible:
            return Expect.REFUSED
        if not self._allowed(Operation.REVERSE_REDEMPTION):
            return Expect.REFUSED
        redemption.reversed += amount.amount
        self.reversals.add(refund_payment_id)
        self.balance += amount.amount
        # Decision 7: "REDEEMED (back to ACTIVE)"; decision 3: "a redemption reversal while
        # locked changes that remembered state to ACTIVE".
        self.position = P.LOCKED_OVER_ACTIVE if self.position in LOCKED else P.ACTIVE
        return self._records("REDEMPTION_REVERSED")

    # ---------------------------------------------------------------- refund of the purchase

    def _open_refund(self, payment_id: str) -> ModelRefund | None:
        refund = self.refund
        return refund if refund and refund.is_open and refund.payment_id == payment_id else None

    def _completed(self, payment_id: str) -> bool:
        """The refund of this paymentId completed: REFUNDED is final."""
        refund = self.refund
        return (
            self.position is P.REFUNDED and refund is not None and refund.payment_id == payment_id
        )

    def _step_amount(self, payment_id: str, amount: Money | None) -> Decimal | None:
        """Decision 8: the steps "carry the payment's amount": this step's, or its pending's;
        never another refund's."""
        pending = self._open_refund(payment_id)
        return amount.amount if amount else (pending.amount if pending else None)

    def _refund_refused(
        self, operation: Operation, payment_id: str, amount: Money | None, *, capped: bool = True
    ) -> bool:
        if not payment_id or not self._allowed(operation):
            return True
        # Rule 3: "a second refund of the same certificate cannot start while one is pending".
        if self.position is P.REFUND_PENDING and self._open_refund(payment_id) is None:
            return True
        if amount is None:
            return False
        if amount.currency != self.currency:  # "one certificate has one currency"
            return True
        # Rule 3: "A refund larger than the remaining balance is rejected." Silent on a failed
        # refund's amount: a failure moves no money, so it is not capped.
        return capped and amount.amount > self.balance

    def start_refund(self, payment_id: str, amount: Money | None) -> Expect:
        # Decision 8: "A refund paymentId that has failed or completed is decided: a late
        # REFUND_PENDING ... for it records nothing". The pending refund's own REFUND_PENDING
        # again, or after its details, is a late step (rule 3: "in whatever order they arrive").
        if payment_id in self.decided_refunds or self._open_refund(payment_id):
            return Expect.NOTHING
        if self._refund_refused(Operation.START_REFUND, payment_id, amount):
            return Expect.REFUSED
        # Silent on a zero amount: "takes an amount up to the remaining balance" allows it.
        self.position = P.REFUND_PENDING
        self.refund = ModelRefund(
            payment_id, RefundStatus.PENDING, amount.amount if amount else None
        )
        return self._records("REFUND_PENDING")

    def refund_needs_details(self, payment_id: str, amount: Money | None = None) -> Expect:
        # Decision 8: a decided refund's late REFUND_PENDING_DETAILS "records nothing".
        if payment_id in self.decided_refunds:
            return Expect.NOTHING
        pending = self._open_refund(payment_id)
        if pending and pending.status is RefundStatus.PENDING_DETAILS:
            return Expect.NOTHING  # A redelivery.
        if self._refund_refused(Operation.REFUND_NEEDS_DETAILS, payment_id, amount):
            return Expect.REFUSED
        known = self._step_amount(payment_id, amount)
        self.position = P.REFUND_PENDING
        self.refund = ModelRefund(payment_id, RefundStatus.PENDING_DETAILS, known)
        return self._records("REFUND_PENDING_DETAILS")

    def complete_refund(self, payment_id: str, amount: Money) -> Expect:
        # REFUNDED is final: its own completion again is a redelivery. Decision 8: "a
        # completion after a failure still completes", so decided refunds are not skipped here.
        if self._completed(payment_id):
            return Expect.NOTHING
        # Silent on zero: a completed refund returns money.
        if amount.is_zero or self._refund_refused(Operation.COMPLETE_REFUND, payment_id, amount):
            return Expect.REFUSED
        # Decision 8: "Completion closes the certificate: REFUNDED, balance 0, final".
        self.position, self.balance = P.REFUNDED, ZERO
        self.refund = ModelRefund(payment_id, RefundStatus.COMPLETED, amount.amount)
        self.decided_refunds.add(payment_id)
        return self._records("REFUNDED")

    def fail_refund(self, payment_id: str, amount: Money | None = None) -> Expect:
        if payment_id in self.decided_refunds:
            # A failure repeated records nothing. Silent on a failure after the completion: it
            # contradicts what was recorded, refused as decision 9 refuses a contradicting result.
            return Expect.REFUSED if self._completed(payment_id) else Expect.NOTHING
        if self._refund_refused(Operation.FAIL_REFUND, payment_id, amount, capped=False):
            return Expect.REFUSED
        known = self._step_amount(payment_id, amount)
        # Decision 8: "A failed refund returns to ACTIVE and keeps refund: {status: FAILED}";
        # the contract: `ACTIVE` "(after unlock or a failed refund)".
        self.position = P.ACTIVE
        self.refund = ModelRefund(payment_id, RefundStatus.FAILED, known)
        self.decided_refunds.add(payment_id)
        return self._records("ACTIVE")

    # ---------------------------------------------------------------- lock, expiry, cancel

    def lock(self, reason: str) -> Expect:
        if self.position in LOCKED:
            return Expect.NOTHING  # The lock endpoint: "Idempotent."
        # The lock endpoint: "Body {"reason": "..."} (required)".
        if not reason.strip() or not self._allowed(Operation.LOCK):
            return Expect.REFUSED
        self.position = self.position.locked()
        return self._records("LOCKED")

    def unlock(self) -> Expect:
        if not self._allowed(Operation.UNLOCK):
            return Expect.NOTHING  # The unlock endpoint: "Idempotent."
        # "back to the previous working state, published as ACTIVE (or that state)".
        self.position = self.position.unlocked()
        return self._records(str(self.position.state))

    def expire(self, at: datetime) -> Expect:
        # The expiry timer never fails: not due yet, or nothing to expire (Timers: "A due
        # certificate the command finds nothing to do for (fully redeemed ...) is set aside").
        # Due at expiresAt itself: from then on the certificate is no longer redeemable.
        if self.expires_at is None or at < self.expires_at:
            return Expect.NOTHING
        if not self._allowed(Operation.EXPIRE):
            return Expect.NOTHING
        # Decision 5: "the remaining balance stays visible"; the lock ends with the lifecycle.
        self.position = P.EXPIRED
        return self._records("EXPIRED")

    def cancel(self) -> Expect:
        if self.position is P.CANCELLED:
            return Expect.NOTHING  # A second cancel has nothing to do.
        # Decision 4 (ALLOWED_FROM), and rule 1: "after issue and before any redemption".
        if not self._allowed(Operation.CANCEL) or self.redemptions:
            return Expect.REFUSED
        # Decision 4: "Cancelling sets the balance to 0."
        self.position, self.balance = P.CANCELLED, ZERO
        return self._records("CANCELLED")
