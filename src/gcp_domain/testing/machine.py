"""The lifecycle state machine: one GiftCertificate, every command, checked after every step.

`GiftCertificateMachine` creates one certificate in a pool and drives it with hypothesis through
reservation, issue, notification and CVC, redemption (with its boundaries), rejection, reversal,
refund, lock, unlock, expiry and cancellation. Each rule asks the reference model
(`gcp_domain.testing.model.LifecycleModel`, written from the contract) what the command should
do, then runs it through `execute` (`gcp_domain.testing.checks.LifecycleChecks`), which checks
the outcome, the event and its publication; the invariants run after every step.

Run it from a test module:

    TestLifecycle = GiftCertificateMachine.TestCase

Extend it by subclassing (see docs/testing-harness.md):

- `on_event(certificate, event)`: called once for every new event, right after the command that
  recorded it (the certificate is as it is right after that event). Persist it, publish it,
  validate its stream object...
- `check_publication(certificate, event, published)`: the built-in checks of the stream object;
  extend it with `super()`.
- `make_clock()`, `make_certificate(...)`, `next_cause()`: swap the clock, create the certificate
  another way (through an application, say), or attribute commands differently.
- add `@rule`s (call `self.model.<command>(...)` for the expectation, then
  `self.execute(command, expect)`) and `@invariant`s (read `self.certificate`, `self.model`,
  `self.recorded`).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import ClassVar, Final

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, initialize, precondition, rule

from gcp_domain.certificate_values import RedemptionOutcome
from gcp_domain.money import Money
from gcp_domain.numbers import CertificateNumber
from gcp_domain.testing.checks import NOT_REDEEMABLE, LifecycleChecks, observable, replay
from gcp_domain.testing.commands import (
    Cancel,
    CompleteRefund,
    DiscloseCvc,
    Expire,
    FailRefund,
    Issue,
    Lock,
    RecordNotificationResult,
    Redeem,
    RefundNeedsDetails,
    RejectRedemption,
    ReleaseReservation,
    RequestNotification,
    Reserve,
    ReverseRedemption,
    StartRefund,
    Unlock,
)
from gcp_domain.testing.model import Expect, LifecycleModel
from gcp_domain.testing.strategies import certificate_numbers, currencies, money, positive_money
from gcp_domain.vocabulary import NotificationChannel, RefundStatus, RejectionReason

# Where these lived before the model and the checks had modules of their own.
__all__ = ["Expect", "GiftCertificateMachine", "LifecycleModel", "observable", "replay"]

ZERO: Final = Decimal(0)
ORDERS: Final = ("WEB-1", "WEB-2")
# Shares of the balance a redemption asks for: mostly what it allows, sometimes more.
PERCENTS: Final = st.one_of(st.integers(1, 60), st.integers(0, 150))
# A damped rule acts when its drawn chance is at most `terminal_percent`; 1 shrinks first.
CHANCE: Final = st.integers(1, 100)
# Which refund paymentId a refund message names (see `_refund_payment`).
REFUND_PAYMENTS: Final = st.sampled_from(("current", "latest", "new", "current", "REF-1"))
OPEN_REFUND: Final = (RefundStatus.PENDING, RefundStatus.PENDING_DETAILS)
# The channel a notification request names: mostly none (the one chosen at issue).
REQUEST_CHANNELS: Final = st.sampled_from((None, None, None, *NotificationChannel))


class GiftCertificateMachine(LifecycleChecks):
    """One GiftCertificate driven through its whole lifecycle; subclass it to extend it.

    Attributes a subclass may read: `certificate` (the live aggregate), `model` (the
    `LifecycleModel`), `recorded` (every event recorded so far, Created first), `clock` (the
    simulated business clock), `refused` (how many commands a rule refused, by error code).
    """

    # Rules that end the lifecycle (cancel, completed refund, expiry, clock jumps of months) act
    # on this share of the steps that pick them, so that most runs live long enough to reach
    # the interesting states. 100 makes them as likely as any other rule.
    terminal_percent: ClassVar[int] = 25

    # Payment ids of redemptions tried so far (applied or rejected), for duplicates and
    # reversals; refund payment ids of reversals, for their repeats.
    redemption_payments: Bundle[str] = Bundle("redemption_payments")
    reversal_payments: Bundle[str] = Bundle("reversal_payments")

    # ---------------------------------------------------------------- creation

    @initialize(
        number=certificate_numbers(),
        currency=currencies(),
        data=st.data(),
        issue_first=st.integers(0, 3),
        channel=st.sampled_from(NotificationChannel),
    )
    def create_certificate(
        self,
        number: CertificateNumber,
        currency: str,
        data: st.DataObject,
        issue_first: int,
        channel: NotificationChannel,
    ) -> None:
        """Creates the certificate. Three times in four it is then reserved and issued at once,
        and its CVC notification requested (unless the channel is NONE), as a sale does."""
        self.sealed_cvc = f"sealed:{number.value[-6:]}:cvc"
        certificate = self.make_certificate(
            pool="default", number=number, sealed_cvc=self.sealed_cvc, cause=self.next_cause()
        )
        self._certificate = certificate
        created = certificate.collect_events()
        assert len(created) == 1
        self._record(certificate, created[0])
        if issue_first:
            face = data.draw(money(currency, min_value=100, max_value=10_000), label="face value")
            self.reserve(order=ORDERS[0], minutes=30)
            self.issue(order=ORDERS[0], amount=face, days=365, channel=channel)
            if channel is not NotificationChannel.NONE:
                self.request_notification(current=False)

    # ---------------------------------------------------------------- reservation and issue

    @rule(order=st.sampled_from((None, *ORDERS)), minutes=st.integers(1, 60))
    def reserve(self, order: str | None, minutes: int) -> None:
        self.execute(Reserve(order_id=order, minutes=minutes), self.model.reserve(order))

    @rule()
    def release_reservation(self) -> None:
        self.execute(ReleaseReservation(), self.model.release())

    @rule(
        order=st.sampled_from(ORDERS),
        amount=st.one_of(positive_money(currencies(), max_value=10_000), st.just(Money.zero())),
        days=st.integers(-1, 400),
        channel=st.sampled_from(NotificationChannel),
    )
    def issue(self, order: str, amount: Money, days: int, channel: NotificationChannel) -> None:
        issued_at = self.clock.now()
        expires_at = issued_at + timedelta(days=days)
        expect = self.model.issue(order, amount, issued_at, expires_at, channel)
        command = Issue(
            order_id=order, amount=amount, validity_days=days, notification_channel=channel
        )
        self.execute(command, expect)

    # ---------------------------------------------------------------- notification and CVC

    def _notification_id(self, current: bool) -> str:
        note = self.model.notification
        return note.notification_id if current and note else self.fresh_id("NOTE")

    @rule(current=st.booleans(), channel=REQUEST_CHANNELS)
    def request_notification(
        self, current: bool, channel: NotificationChannel | None = None
    ) -> None:
        """A new request, or the open one again; now and then naming a channel of its own."""
        notification_id = self._notification_id(current)
        expect = self.model.request_notification(notification_id, channel)
        self.execute(RequestNotification(notification_id, channel), expect)

    @precondition(lambda self: self.model.notification is not None)
    @rule(sent=st.booleans())
    def request_again_after_the_result(self, sent: bool) -> None:
        """CRM reports the open request's result, then a new request follows (decision 9: a
        failed delivery is retried, a delivered one re-sent on the customer's asking)."""
        self.notification_result(current=True, sent=sent)
        self.request_notification(current=False)

    def _earlier_notifications(self) -> list[str]:
        """The notificationIds of requests before the latest one."""
        note = self.model.notification
        latest = note.notification_id if note else None
        return sorted(set(self.model.notification_results) - {latest})

    @precondition(lambda self: self._earlier_notifications())
    @rule(data=st.data())
    def request_an_earlier_notification(self, data: st.DataObject) -> None:
        """A late redelivery of a request before the latest one."""
        earlier = self._earlier_notifications()
        notification_id = data.draw(st.sampled_from(earlier), label="earlier notificationId")
        expect = self.model.request_notification(notification_id)
        self.execute(RequestNotification(notification_id), expect)

    @rule(current=st.booleans())
    def disclose_cvc(self, current: bool) -> None:
        notification_id = self._notification_id(current)
        expect = self.model.disclose_cvc(notification_id)
        cvc = self.execute(DiscloseCvc(notification_id), expect)
        if expect is Expect.RECORDS:
            assert cvc == self.sealed_cvc

    @rule(current=st.booleans(), sent=st.booleans())
    def notification_result(self, current: bool, sent: bool) -> None:
        notification_id = self._notification_id(current)
        expect = self.model.notification_result(notification_id, sent=sent)
        error = None if sent else "mailbox unavailable"
        self.execute(RecordNotificationResult(notification_id, sent, error), expect)

    # ---------------------------------------------------------------- redemption

    def _redeem(self, payment_id: str, amount: Money) -> None:
        state_before = self.model.state
        balance_before = self.certificate.balance
        at = self.clock.now()
        expect, applied, reason = self.model.redeem(payment_id, amount, at)
        outcome = self.execute(Redeem(payment_id, amount), expect)
        assert isinstance(outcome, RedemptionOutcome)
        assert outcome.applied is applied, f"{payment_id}: applied={outcome.applied}"
        assert outcome.duplicate is (expect is Expect.NOTHING)
        assert outcome.balance_after == self.certificate.balance
        if expect is Expect.RECORDS:
            assert outcome.reason == reason, f"{outcome.reason} != {reason}"
        if state_before in NOT_REDEEMABLE or (
            self.model.expires_at and at >= self.model.expires_at
        ):
            # Locked, refund pending, expired (by state or by time), refunded, cancelled...:
            # nothing is taken, whatever the command said.
            assert self.certificate.balance == balance_before
            assert not (applied and expect is Expect.RECORDS)

    @rule(target=redemption_payments, percent=PERCENTS, foreign=st.integers(0, 9))
    def redeem(self, percent: int, foreign: int) -> str:
        """A fresh paymentId for a share of the balance (mostly up to 60 %, at most 150 %); one
        in ten in another currency."""
        base = self.model.balance if self.model.balance > 0 else Decimal(100)
        amount = self.money_of(base * percent / 100)
        if foreign == 0:
            amount = Money(Decimal(1), self._other_currency())
        payment_id = self.fresh_id("PAY")
        self._redeem(payment_id, amount)
        return payment_id

    @precondition(lambda self: self.model.issued)
    @rule(target=redemption_payments)
    def redeem_exact_balance(self) -> str:
        payment_id = self.fresh_id("PAY")
        self._redeem(payment_id, self.money_of(self.model.balance))
        return payment_id

    @precondition(lambda self: self.model.issued)
    @rule(target=redemption_payments)
    def redeem_balance_plus_one_minor_unit(self) -> str:
        balance = self.money_of(self.model.balance)
        payment_id = self.fresh_id("PAY")
        self._redeem(payment_id, balance + balance.minor_unit)
        return payment_id

    @rule(target=redemption_payments)
    def redeem_zero(self) -> str:
        payment_id = self.fresh_id("PAY")
        self._redeem(payment_id, self.money_of(ZERO))
        return payment_id

    @rule(payment_id=redemption_payments, percent=st.integers(0, 150))
    def redeem_duplicate(self, payment_id: str, percent: int) -> None:
        """A redelivery of an earlier redemption (its amount need not even match)."""
        self._redeem(payment_id, self.money_of(self.model.balance * percent / 100))

    def _reject(self, payment_id: str, reason: RejectionReason) -> None:
        expect = self.model.reject_redemption(payment_id)
        self.execute(RejectRedemption(payment_id, self.money_of(Decimal(10)), reason), expect)

    @rule(target=redemption_payments, reason=st.sampled_from(RejectionReason))
    def reject_redemption(self, reason: RejectionReason) -> str:
        """The matcher refused a redemption before it reached the balance."""
        payment_id = self.fresh_id("PAY")
        self._reject(payment_id, reason)
        return payment_id

    @rule(payment_id=redemption_payments, reason=st.sampled_from(RejectionReason))
    def reject_known_redemption(self, payment_id: str, reason: RejectionReason) -> None:
        """A rejection naming a paymentId already applied or rejected records nothing."""
        self._reject(payment_id, reason)

    # ---------------------------------------------------------------- reversal

    def _reversible(self, payment_id: str) -> Decimal:
        redemption = self.model.redemptions.get(payment_id)
        return redemption.reversible if redemption else Decimal(10)

    def _pick_redemption(self, data: st.DataObject) -> str:
        """An applied redemption's paymentId, or (one time in eight, or when none was applied)
        a paymentId that names no applied redemption."""
        applied = sorted(self.model.redemptions)
        unknown = sorted(self.model.rejected) or [self.fresh_id("PAY")]
        if applied:
            pick: int = data.draw(st.integers(0, 7), label="0: not an applied redemption")
            if pick:
                return data.draw(st.sampled_from(applied), label="redemption")
        return data.draw(st.sampled_from(unknown), label="not applied")

    def _reverse(self, refund_payment_id: str, payment_id: str, amount: Money) -> None:
        expect = self.model.reverse_redemption(refund_payment_id, payment_id, amount)
        self.execute(ReverseRedemption(refund_payment_id, payment_id, amount), expect)

    @rule(target=reversal_payments, data=st.data(), percent=st.integers(0, 100))
    def reverse_redemption(self, data: st.DataObject, percent: int) -> str:
        """Returns up to what that redemption has left to reverse (0 % is refused)."""
        payment_id = self._pick_redemption(data)
        refund_payment_id = self.fresh_id("RV")
        amount = self.money_of(self._reversible(payment_id) * percent / 100)
        self._reverse(refund_payment_id, payment_id, amount)
        return refund_payment_id

    @rule(data=st.data())
    def reverse_beyond_the_redemption(self, data: st.DataObject) -> None:
        """One minor unit more than is left to reverse: always refused."""
        payment_id = self._pick_redemption(data)
        amount = self.money_of(self._reversible(payment_id))
        self._reverse(self.fresh_id("RV"), payment_id, amount + amount.minor_unit)

    @rule(refund_payment_id=reversal_payments, data=st.data())
    def reverse_again(self, refund_payment_id: str, data: st.DataObject) -> None:
        """A redelivered reversal: the refund paymentId is applied once."""
        self._reverse(refund_payment_id, self._pick_redemption(data), self.money_of(Decimal(1)))

    # ---------------------------------------------------------------- refund of the purchase

    def _refund_amount(self, percent: int | None) -> Money | None:
        if percent is None:
            return None
        if percent < 0:
            return Money(Decimal(1), self._other_currency())
        return self.money_of(self.model.balance * percent / 100)

    def _refund_payment(self, which: str) -> str:
        """`current`: the open refund's paymentId, or a new one when no refund is open (the
        first refund, or a retry after a failed one); `latest`: the paymentId of the latest
        refund, open or not; `new`: a paymentId never seen; anything else is used as it is."""
        refund = self.model.refund
        if which == "current" and refund and refund.status in OPEN_REFUND:
            return refund.payment_id
        if which == "latest" and refund:
            return refund.payment_id
        if which in ("current", "latest", "new"):
            return self.fresh_id("REF")
        return which

    @rule(
        which=REFUND_PAYMENTS,
        percent=st.one_of(st.integers(1, 100), st.none(), st.integers(-1, 110)),
    )
    def refund_pending(self, which: str, percent: int | None) -> None:
        """REFUND_PENDING, with or without an amount (up to 110 % of the balance, or in
        another currency)."""
        payment_id = self._refund_payment(which)
        amount = self._refund_amount(percent)
        self.execute(StartRefund(payment_id, amount), self.model.start_refund(payment_id, amount))

    @rule(
        which=REFUND_PAYMENTS,
        percent=st.one_of(st.none(), st.integers(1, 100), st.integers(-1, 110)),
    )
    def refund_pending_details(self, which: str, percent: int | None) -> None:
        """REFUND_PENDING_DETAILS, with or without the refund's amount."""
        payment_id = self._refund_payment(which)
        amount = self._refund_amount(percent)
        expect = self.model.refund_needs_details(payment_id, amount)
        self.execute(RefundNeedsDetails(payment_id, amount), expect)

    @precondition(lambda self: self.model.issued)
    @rule(which=REFUND_PAYMENTS, completed=st.booleans())
    def refund_beyond_the_balance(self, which: str, completed: bool) -> None:
        """A refund one minor unit larger than the balance: pending or completed, refused."""
        payment_id = self._refund_payment(which)
        balance = self.money_of(self.model.balance)
        amount = balance + balance.minor_unit
        if completed:
            self.execute(
                CompleteRefund(payment_id, amount), self.model.complete_refund(payment_id, amount)
            )
        else:
            self.execute(
                StartRefund(payment_id, amount), self.model.start_refund(payment_id, amount)
            )

    @rule(which=REFUND_PAYMENTS, percent=st.integers(-1, 110), chance=CHANCE)
    def refund_completed(self, which: str, percent: int, chance: int) -> None:
        """Damped (see `terminal_percent`): a completed refund ends the lifecycle."""
        if chance > self.terminal_percent:
            return
        payment_id = self._refund_payment(which)
        amount = self._refund_amount(percent)
        assert amount is not None
        expect = self.model.complete_refund(payment_id, amount)
        self.execute(CompleteRefund(payment_id, amount), expect)

    @rule(which=REFUND_PAYMENTS, percent=st.one_of(st.none(), st.integers(1, 100)))
    def refund_failed(self, which: str, percent: int | None) -> None:
        """REFUND_FAILED, with or without the refund's amount."""
        payment_id = self._refund_payment(which)
        amount = self._refund_amount(percent)
        expect = self.model.fail_refund(payment_id, amount)
        self.execute(FailRefund(payment_id, amount=amount), expect)

    # ---------------------------------------------------------------- lock, clock, expiry, cancel

    @rule(reason=st.sampled_from(("fraud check", "customer called", "", "  ")))
    def lock(self, reason: str) -> None:
        self.execute(Lock(reason=reason), self.model.lock(reason))

    @rule()
    def unlock(self) -> None:
        self.execute(Unlock(), self.model.unlock())

    @rule(hours=st.integers(0, 72))
    def advance_clock(self, hours: int) -> None:
        """A few hours or days pass."""
        self.clock.advance(timedelta(hours=hours))

    @rule(days=st.integers(1, 400), chance=CHANCE)
    def jump_clock(self, days: int, chance: int) -> None:
        """Damped: months pass, maybe past expiresAt (redemptions are then rejected as EXPIRED
        even before the expiry timer runs)."""
        if chance <= self.terminal_percent:
            self.clock.advance(timedelta(days=days))

    @precondition(lambda self: self.model.expires_at is not None)
    @rule(extra_minutes=st.integers(0, 60), chance=CHANCE)
    def reach_expiry(self, extra_minutes: int, chance: int) -> None:
        """Damped: the clock reaches expiresAt (or just past it) and the timer has not run yet:
        redemptions are now rejected EXPIRED (decision 5), other commands judged by the state."""
        assert self.model.expires_at is not None
        if chance <= self.terminal_percent:
            self.clock.advance_to(self.model.expires_at + timedelta(minutes=extra_minutes))

    @rule()
    def expire_now(self) -> None:
        """The expiry timer at the current time: does nothing until expiresAt."""
        self.execute(Expire(), self.model.expire(self.clock.now()))

    @precondition(lambda self: self.model.expires_at is not None)
    @rule(extra_minutes=st.integers(0, 60 * 24), chance=CHANCE)
    def expire_after_expiry(self, extra_minutes: int, chance: int) -> None:
        """Damped: moves the clock to expiresAt (or past it), then runs the expiry timer."""
        assert self.model.expires_at is not None
        if chance > self.terminal_percent:
            return
        self.clock.advance_to(self.model.expires_at + timedelta(minutes=extra_minutes))
        self.execute(Expire(), self.model.expire(self.clock.now()))

    @rule(chance=CHANCE)
    def cancel(self, chance: int) -> None:
        """Damped: a cancel ends the lifecycle."""
        if chance <= self.terminal_percent:
            self.execute(Cancel(), self.model.cancel())
