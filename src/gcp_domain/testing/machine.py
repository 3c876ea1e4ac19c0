"""The lifecycle state machine: one GiftCertificate, every command, checked after every step.

`GiftCertificateMachine` creates one certificate in a pool and drives it with hypothesis through
reservation, issue, notification and CVC, redemption (with its boundaries), rejection, reversal,
refund, lock, unlock, expiry and cancellation. Beside the aggregate it keeps `LifecycleModel`,
a plain-Python reference model of the contract's rules, and after every step checks the
invariants below against both.

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

import json
from collections import Counter
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import Enum
from typing import Any, ClassVar, Final

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from gcp_domain.cause import Cause
from gcp_domain.certificate import GiftCertificate
from gcp_domain.certificate_values import RedemptionOutcome
from gcp_domain.errors import DomainError
from gcp_domain.money import Money, minor_digits
from gcp_domain.numbers import CertificateNumber
from gcp_domain.stream import STATUSES, Publication, publication
from gcp_domain.testing.commands import (
    Cancel,
    CauseFactory,
    CompleteRefund,
    DiscloseCvc,
    Expire,
    FailRefund,
    Issue,
    LifecycleCommand,
    Lock,
    RecordNotificationResult,
    Redeem,
    RefundNeedsDetails,
    RejectRedemption,
    ReleaseReservation,
    RequestNotification,
    Reserve,
    ReverseRedemption,
    SimulatedClock,
    StartRefund,
    Unlock,
)
from gcp_domain.testing.strategies import certificate_numbers, currencies, money, positive_money
from gcp_domain.vocabulary import (
    CertificateState,
    NotificationChannel,
    NotificationStatus,
    RefundStatus,
    RejectionReason,
)

S = CertificateState
ZERO: Final = Decimal(0)
# Where a certificate rests while no redemption may take money.
NOT_REDEEMABLE: Final = frozenset(
    {S.AVAILABLE, S.RESERVED, S.LOCKED, S.REFUND_PENDING, S.REDEEMED, S.REFUNDED, S.EXPIRED,
     S.CANCELLED}
)  # fmt: skip
ORDERS: Final = ("WEB-1", "WEB-2")
# Shares of the balance a redemption asks for: mostly what it allows, sometimes more.
PERCENTS: Final = st.one_of(st.integers(1, 60), st.integers(0, 150))
# A damped rule acts when its drawn chance is at most `terminal_percent`; 1 shrinks first.
CHANCE: Final = st.integers(1, 100)
# Which refund paymentId a refund message names (see `_refund_payment`).
REFUND_PAYMENTS: Final = st.sampled_from(("current", "latest", "new", "current", "REF-1"))
OPEN_REFUND: Final = (RefundStatus.PENDING, RefundStatus.PENDING_DETAILS)


# How hypothesis marks an @invariant method (hypothesis.stateful.INVARIANT_MARKER).
_INVARIANT_MARKER: Final = "hypothesis_stateful_invariant"


class Expect(Enum):
    """What the model says a command will do."""

    RECORDS = "records one event"
    NOTHING = "records nothing and returns quietly (a repeat, or nothing to do)"
    REFUSED = "raises DomainError and records nothing"


@attrs.define
class ModelRedemption:
    amount: Decimal
    reversed: Decimal = ZERO


@attrs.define
class ModelRefund:
    payment_id: str
    status: RefundStatus
    amount: Decimal | None


@attrs.define
class ModelNotification:
    notification_id: str
    status: NotificationStatus
    attempt: int
    cvc_disclosed: bool = False


@attrs.define
class LifecycleModel:
    """The contract's rules for one certificate, in plain Python, independent of the aggregate.

    Each command method returns what the command should do (`Expect`) and, when it records an
    event, moves the model on. A refusing or idle command leaves the model as it was.
    """

    state: CertificateState = S.AVAILABLE
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
    locked_from: CertificateState | None = None
    refund: ModelRefund | None = None
    decided_refunds: set[str] = attrs.Factory(set)
    # amount == balance + redeemed - reversed holds until a refund completes or a cancel.
    conserved: bool = True

    # ---------------------------------------------------------------- queries

    @property
    def issued(self) -> bool:
        return self.issue_order is not None

    @property
    def working_state(self) -> CertificateState:
        """The state a lock returns to, or the state itself when not locked."""
        return self.locked_from if self.locked_from is not None else self.state

    @property
    def redeemed_total(self) -> Decimal:
        return sum((r.amount for r in self.redemptions.values()), ZERO)

    @property
    def reversed_total(self) -> Decimal:
        return sum((r.reversed for r in self.redemptions.values()), ZERO)

    def redemption_refusal(self, amount: Money, at: datetime) -> RejectionReason | None:
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
        assert self.expires_at is not None
        if at >= self.expires_at:
            return RejectionReason.EXPIRED
        if amount.currency != self.currency:
            return RejectionReason.CURRENCY_MISMATCH
        if amount.is_zero:
            return RejectionReason.INVALID_AMOUNT
        if amount.amount > self.balance:
            return RejectionReason.INSUFFICIENT_BALANCE
        return None

    # ---------------------------------------------------------------- reservation and issue

    def reserve(self, order_id: str | None) -> Expect:
        if self.state is not S.AVAILABLE:
            return Expect.REFUSED
        self.state, self.reserved_for = S.RESERVED, order_id
        return Expect.RECORDS

    def release(self) -> Expect:
        if self.state is S.AVAILABLE:
            return Expect.NOTHING
        if self.state is not S.RESERVED:
            return Expect.REFUSED
        self.state, self.reserved_for = S.AVAILABLE, None
        return Expect.RECORDS

    def issue(
        self,
        order_id: str,
        amount: Money,
        issued_at: datetime,
        expires_at: datetime,
        notification_channel: NotificationChannel,
    ) -> Expect:
        if self.issued:
            return Expect.NOTHING if self.issue_order == order_id else Expect.REFUSED
        if self.state not in (S.AVAILABLE, S.RESERVED):
            return Expect.REFUSED
        if self.reserved_for not in (None, order_id):
            return Expect.REFUSED
        if amount.is_zero or not order_id or expires_at <= issued_at:
            return Expect.REFUSED
        self.state, self.reserved_for, self.issue_order = S.ACTIVE, None, order_id
        self.face_value = self.balance = amount.amount
        self.currency = amount.currency
        self.expires_at = expires_at
        self.notification_channel = notification_channel
        return Expect.RECORDS

    # ---------------------------------------------------------------- notification and CVC

    def request_notification(self, notification_id: str) -> Expect:
        note = self.notification
        if note is not None and note.notification_id == notification_id:
            return Expect.NOTHING
        if self.state is not S.ACTIVE:
            return Expect.REFUSED
        if self.notification_channel is NotificationChannel.NONE:
            return Expect.REFUSED
        if note is not None and note.status is NotificationStatus.REQUESTED:
            return Expect.REFUSED
        attempt = note.attempt + 1 if note else 1
        self.notification = ModelNotification(
            notification_id, NotificationStatus.REQUESTED, attempt
        )
        return Expect.RECORDS

    def disclose_cvc(self, notification_id: str) -> Expect:
        note = self.notification
        if note is None or note.notification_id != notification_id or note.cvc_disclosed:
            return Expect.REFUSED
        if self.state is not S.ACTIVE or note.status is not NotificationStatus.REQUESTED:
            return Expect.REFUSED
        note.cvc_disclosed = True
        return Expect.RECORDS

    def notification_result(self, notification_id: str, *, sent: bool) -> Expect:
        wanted = NotificationStatus.SENT if sent else NotificationStatus.FAILED
        if self.notification_results.get(notification_id) is wanted:
            return Expect.NOTHING  # A repeat, of this request's result or an earlier one's.
        note = self.notification
        if note is None or note.notification_id != notification_id:
            return Expect.REFUSED
        if note.status is not NotificationStatus.REQUESTED:
            return Expect.REFUSED
        note.status = wanted
        self.notification_results[notification_id] = wanted
        return Expect.RECORDS

    # ---------------------------------------------------------------- redemption

    def redeem(
        self, payment_id: str, amount: Money, at: datetime
    ) -> tuple[Expect, bool, RejectionReason | None]:
        """(expectation, applied?, rejection reason). A repeat records nothing and answers as
        the first time did (applied or not)."""
        if payment_id in self.redemptions:
            return Expect.NOTHING, True, None
        if payment_id in self.rejected:
            return Expect.NOTHING, False, None
        reason = self.redemption_refusal(amount, at)
        if reason is not None:
            self.rejected.add(payment_id)
            return Expect.RECORDS, False, reason
        self.redemptions[payment_id] = ModelRedemption(amount.amount)
        self.balance -= amount.amount
        if self.balance == 0:
            self.state = S.REDEEMED
        return Expect.RECORDS, True, None

    def reject_redemption(self, payment_id: str) -> Expect:
        if payment_id in self.redemptions or payment_id in self.rejected:
            return Expect.NOTHING
        self.rejected.add(payment_id)
        return Expect.RECORDS

    def reverse_redemption(
        self, refund_payment_id: str, redemption_payment_id: str, amount: Money
    ) -> Expect:
        if refund_payment_id in self.reversals:
            return Expect.NOTHING
        redemption = self.redemptions.get(redemption_payment_id)
        if redemption is None or amount.currency != self.currency or amount.is_zero:
            return Expect.REFUSED
        if amount.amount > redemption.amount - redemption.reversed:
            return Expect.REFUSED
        if self.working_state not in (S.ACTIVE, S.REDEEMED):
            return Expect.REFUSED
        redemption.reversed += amount.amount
        self.reversals.add(refund_payment_id)
        self.balance += amount.amount
        if self.state is S.LOCKED:
            self.locked_from = S.ACTIVE
        else:
            self.state = S.ACTIVE
        return Expect.RECORDS

    # ---------------------------------------------------------------- refund of the purchase

    def _refund_refused(self, payment_id: str, amount: Money | None) -> bool:
        if not self.issued or not payment_id:
            return True
        if amount is not None and amount.currency != self.currency:
            return True
        other_pending = self.refund is not None and self.refund.payment_id != payment_id
        if self.state is S.REFUND_PENDING and other_pending:
            return True
        if self.state not in (S.ACTIVE, S.REFUND_PENDING):
            return True
        return amount is not None and amount.amount > self.balance

    def start_refund(self, payment_id: str, amount: Money | None) -> Expect:
        if payment_id in self.decided_refunds:
            return Expect.NOTHING  # A failed or completed refund is never reopened.
        refund = self.refund
        if refund and refund.payment_id == payment_id and self.state is S.REFUND_PENDING:
            return Expect.NOTHING
        if self._refund_refused(payment_id, amount):
            return Expect.REFUSED
        self.state = S.REFUND_PENDING
        self.refund = ModelRefund(
            payment_id, RefundStatus.PENDING, amount.amount if amount else None
        )
        return Expect.RECORDS

    def refund_needs_details(self, payment_id: str, amount: Money | None = None) -> Expect:
        if payment_id in self.decided_refunds:
            return Expect.NOTHING
        refund = self.refund
        if (
            refund
            and refund.payment_id == payment_id
            and refund.status is RefundStatus.PENDING_DETAILS
        ):
            return Expect.NOTHING
        if self._refund_refused(payment_id, amount):
            return Expect.REFUSED
        # The amount is a fact of this refund payment: given here, or known from its pending.
        known = amount.amount if amount else None
        if known is None and refund and refund.payment_id == payment_id:
            known = refund.amount
        self.state = S.REFUND_PENDING
        self.refund = ModelRefund(payment_id, RefundStatus.PENDING_DETAILS, known)
        return Expect.RECORDS

    def complete_refund(self, payment_id: str, amount: Money) -> Expect:
        refund = self.refund
        if self.state is S.REFUNDED and refund and refund.payment_id == payment_id:
            return Expect.NOTHING
        if amount.is_zero or self._refund_refused(payment_id, amount):
            return Expect.REFUSED
        self.state, self.balance, self.conserved = S.REFUNDED, ZERO, False
        self.refund = ModelRefund(payment_id, RefundStatus.COMPLETED, amount.amount)
        self.decided_refunds.add(payment_id)
        return Expect.RECORDS

    def fail_refund(self, payment_id: str, amount: Money | None = None) -> Expect:
        if payment_id in self.decided_refunds:
            refund = self.refund
            completed = self.state is S.REFUNDED and refund and refund.payment_id == payment_id
            return Expect.REFUSED if completed else Expect.NOTHING
        if self.state is S.REFUND_PENDING:
            if self.refund is None or self.refund.payment_id != payment_id:
                return Expect.REFUSED
        elif self.state is not S.ACTIVE:
            return Expect.REFUSED
        if amount is not None and amount.currency != self.currency:
            return Expect.REFUSED
        # A failure may overtake its pending: recorded on the ACTIVE certificate all the same.
        same = self.refund is not None and self.refund.payment_id == payment_id
        known = amount.amount if amount is not None else None
        if known is None and self.refund is not None and same:
            known = self.refund.amount
        self.state = S.ACTIVE
        self.refund = ModelRefund(payment_id, RefundStatus.FAILED, known)
        self.decided_refunds.add(payment_id)
        return Expect.RECORDS

    # ---------------------------------------------------------------- lock, expiry, cancel

    def lock(self, reason: str) -> Expect:
        if self.state is S.LOCKED:
            return Expect.NOTHING
        if not reason.strip() or self.state not in (S.ACTIVE, S.REDEEMED):
            return Expect.REFUSED
        self.locked_from, self.state = self.state, S.LOCKED
        return Expect.RECORDS

    def unlock(self) -> Expect:
        if self.state is not S.LOCKED:
            return Expect.NOTHING
        assert self.locked_from is not None
        self.state, self.locked_from = self.locked_from, None
        return Expect.RECORDS

    def expire(self, at: datetime) -> Expect:
        if self.expires_at is None or at < self.expires_at:
            return Expect.NOTHING
        # ACTIVE, or LOCKED over ACTIVE: a fully redeemed certificate has nothing to expire.
        if self.state not in (S.ACTIVE, S.LOCKED) or self.working_state is not S.ACTIVE:
            return Expect.NOTHING
        self.state, self.locked_from = S.EXPIRED, None
        return Expect.RECORDS

    def cancel(self) -> Expect:
        if self.state is S.CANCELLED:
            return Expect.NOTHING
        if self.state in (S.RESERVED, S.REFUND_PENDING):
            return Expect.REFUSED
        if self.working_state not in (S.AVAILABLE, S.ACTIVE) or self.redemptions:
            return Expect.REFUSED
        self.state, self.balance, self.locked_from, self.conserved = S.CANCELLED, ZERO, None, False
        return Expect.RECORDS


def observable(certificate: GiftCertificate) -> dict[str, Any]:
    """What a certificate shows: everything its commands and stream objects read."""
    return {
        "id": certificate.id,
        "version": certificate.version,
        "created_on": certificate.created_on,
        "modified_on": certificate.modified_on,
        "pool": certificate.pool,
        "number": certificate.number,
        "state": certificate.state,
        "reservation": certificate.reservation,
        "issue_terms": certificate.issue_terms,
        "balance": certificate.balance,
        "redemptions": dict(certificate.redemptions),
        "rejected_payments": set(certificate.rejected_payments),
        "reversals": set(certificate.reversals),
        "notification": certificate.notification,
        "lock": certificate.lock,
        "refund": certificate.refund,
        "last_cause": certificate.last_cause,
    }


def replay(events: list[Any]) -> GiftCertificate | None:
    """The aggregate rebuilt from its events alone, as the event store does."""
    aggregate: GiftCertificate | None = None
    for recorded in events:
        aggregate = recorded.mutate(aggregate)
    return aggregate


class GiftCertificateMachine(RuleBasedStateMachine):
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

    def __init__(self) -> None:
        super().__init__()
        self._certificate: GiftCertificate | None = None
        self.model = LifecycleModel()
        self.recorded: list[Any] = []
        self.clock = self.make_clock()
        self.causes = CauseFactory()
        self.refused: Counter[str] = Counter()
        self.sealed_cvc = "sealed:unset"
        self._ids = 0

    # ---------------------------------------------------------------- extension points

    def make_clock(self) -> SimulatedClock:
        """The business clock handed to every command. Override to start elsewhere."""
        return SimulatedClock()

    def make_certificate(
        self, *, pool: str, number: CertificateNumber, sealed_cvc: str, cause: Cause
    ) -> GiftCertificate:
        """Creates the certificate under test (with its Created event pending)."""
        return GiftCertificate.create(pool=pool, number=number, sealed_cvc=sealed_cvc, cause=cause)

    def next_cause(self) -> Cause:
        """The Cause given to the next command."""
        return self.causes()

    def on_event(self, certificate: GiftCertificate, event: Any) -> None:
        """Called once for every new event, in order, with the certificate right after it.
        Does nothing here: a hook for subclasses (persist, publish, validate...)."""

    def check_publication(
        self, certificate: GiftCertificate, event: Any, published: Publication | None
    ) -> None:
        """Checks the stream object of `event` (None for events that publish nothing)."""
        if published is None:
            return
        value = published.value
        assert published.key == str(certificate.id)
        assert published.status in STATUSES, published.status
        assert value["status"] == published.status
        assert value["state"] == str(certificate.state)
        assert value["version"] == event.originator_version == certificate.version
        expected_balance = (
            str(Money(certificate.balance, certificate.currency)) if certificate.currency else None
        )
        assert value["remainingBalance"] == expected_balance
        text = json.dumps(value, default=str)
        assert self.sealed_cvc not in text, "the sealed CVC appears in a stream object"

    def check_all_invariants(self) -> None:
        """Runs every `@invariant` of this machine (a subclass's too): for scripted scenarios
        that call rules by hand, outside hypothesis' own stepping."""
        for name in sorted(dir(type(self))):
            member = getattr(type(self), name, None)
            if callable(member) and hasattr(member, _INVARIANT_MARKER):
                getattr(self, name)()

    # ---------------------------------------------------------------- running commands

    @property
    def certificate(self) -> GiftCertificate:
        assert self._certificate is not None, "the certificate is created by the initialize rule"
        return self._certificate

    def fresh_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self._ids}"

    def execute(self, command: LifecycleCommand, expect: Expect) -> Any:
        """Runs `command` on the certificate and checks it did what the model expected:
        refused with a `DomainError` recording nothing, did nothing, or recorded one event.
        Returns the command's result (None when refused)."""
        certificate = self.certificate
        version_before = certificate.version
        state_before = certificate.state
        refusal: DomainError | None = None
        try:
            result = command.apply(certificate, clock=self.clock, cause=self.next_cause())
        except DomainError as error:
            refusal = error
        if refusal is not None:
            leaked = certificate.collect_events()
            assert not leaked, f"{command!r} raised {refusal.code} yet recorded {leaked!r}"
            assert certificate.version == version_before
            assert expect is Expect.REFUSED, (
                f"{command!r} in {state_before}: refused ({refusal.code}: {refusal}); "
                f"the model expected it {expect.value}"
            )
            self.refused[refusal.code] += 1
            return None
        new_events = certificate.collect_events()
        assert expect is not Expect.REFUSED, (
            f"{command!r} in {state_before} was accepted; the model expected a refusal"
        )
        wanted = 1 if expect is Expect.RECORDS else 0
        assert len(new_events) == wanted, (
            f"{command!r} in {state_before} recorded {len(new_events)} events, expected {wanted}"
        )
        if isinstance(result, bool):
            assert result is (expect is Expect.RECORDS), f"{command!r} returned {result}"
        for new_event in new_events:
            if isinstance(new_event, GiftCertificate.RedemptionApplied):
                assert state_before not in NOT_REDEEMABLE, (
                    f"a redemption took money from a {state_before} certificate"
                )
            self._record(certificate, new_event)
        return result

    def _record(self, certificate: GiftCertificate, new_event: Any) -> None:
        self.recorded.append(new_event)
        self.check_publication(certificate, new_event, publication(certificate, new_event))
        self.on_event(certificate, new_event)

    def money_of(self, units: Decimal) -> Money:
        """`units` in the certificate's currency (RUB before issue), cut to its minor digits."""
        currency = self.model.currency or "RUB"
        quantum = Decimal(1).scaleb(-minor_digits(currency))
        return Money(units.quantize(quantum, rounding=ROUND_DOWN), currency)

    def _other_currency(self) -> str:
        return "USD" if self.model.currency != "USD" else "EUR"

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

    @rule(current=st.booleans())
    def request_notification(self, current: bool) -> None:
        notification_id = self._notification_id(current)
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
        return redemption.amount - redemption.reversed if redemption else Decimal(10)

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

    # ---------------------------------------------------------------- invariants

    @invariant()
    def balance_is_never_negative(self) -> None:
        assert self.certificate.balance >= 0
        assert self.model.balance >= 0

    @invariant()
    def money_is_conserved(self) -> None:
        """amount == balance + redeemed - reversed, until a refund completes or a cancel."""
        certificate = self.certificate
        for redemption in certificate.redemptions.values():
            assert 0 <= redemption.reversed <= redemption.amount
        if certificate.issue_terms is None or not self.model.conserved:
            return
        assert certificate.issue_terms.amount.amount == (
            certificate.balance + certificate.redeemed_total - certificate.reversed_total
        )
        assert self.model.face_value == (
            self.model.balance + self.model.redeemed_total - self.model.reversed_total
        )

    @invariant()
    def state_and_balance_agree(self) -> None:
        certificate = self.certificate
        state = certificate.state
        if state is S.ACTIVE:
            assert certificate.balance > 0
        if state in (S.REDEEMED, S.REFUNDED, S.CANCELLED, S.AVAILABLE, S.RESERVED):
            assert certificate.balance == 0
        assert (certificate.lock is not None) is (state is S.LOCKED)
        assert (certificate.reservation is not None) is (state is S.RESERVED)

    @invariant()
    def payment_ids_apply_once(self) -> None:
        applied = Counter(
            e.payment_id for e in self.recorded if isinstance(e, GiftCertificate.RedemptionApplied)
        )
        assert all(count == 1 for count in applied.values()), applied
        reversed_by = Counter(
            e.refund_payment_id
            for e in self.recorded
            if isinstance(e, GiftCertificate.RedemptionReversed)
        )
        assert all(count == 1 for count in reversed_by.values()), reversed_by
        assert not set(self.certificate.redemptions) & self.certificate.rejected_payments

    @invariant()
    def version_counts_the_events(self) -> None:
        assert self.certificate.version == len(self.recorded)
        versions = [e.originator_version for e in self.recorded]
        assert versions == list(range(1, len(self.recorded) + 1))
        assert not self.certificate.pending_events

    @invariant()
    def replay_gives_the_same_certificate(self) -> None:
        replayed = replay(self.recorded)
        assert replayed is not None
        assert observable(replayed) == observable(self.certificate)
        assert replayed == self.certificate

    @invariant()
    def model_agrees(self) -> None:
        certificate, model = self.certificate, self.model
        assert certificate.state is model.state, f"{certificate.state} != model {model.state}"
        assert certificate.balance == model.balance, f"{certificate.balance} != {model.balance}"
        assert certificate.currency == model.currency
        assert set(certificate.redemptions) == set(model.redemptions)
        for payment_id, redemption in certificate.redemptions.items():
            assert redemption.amount == model.redemptions[payment_id].amount
            assert redemption.reversed == model.redemptions[payment_id].reversed
        assert certificate.rejected_payments == model.rejected
        assert certificate.reversals == model.reversals
        if certificate.lock is not None:
            assert certificate.lock.previous_state is model.locked_from
        note, model_note = certificate.notification, model.notification
        assert (note is None) is (model_note is None)
        if note is not None and model_note is not None:
            assert (note.notification_id, note.status, note.attempt, note.cvc_disclosed) == (
                model_note.notification_id,
                model_note.status,
                model_note.attempt,
                model_note.cvc_disclosed,
            )
        refund, model_refund = certificate.refund, model.refund
        assert (refund is None) is (model_refund is None)
        if refund is not None and model_refund is not None:
            assert (refund.payment_id, refund.status, refund.amount) == (
                model_refund.payment_id,
                model_refund.status,
                model_refund.amount,
            ), f"{refund} != model {model_refund}"
        assert certificate.notification_results == model.notification_results
        assert certificate.decided_refunds == model.decided_refunds
