"""Lifecycle commands as values, a simulated clock, and a runner that records what each did.

A command is a frozen attrs object whose `apply` calls one public command of a
`GiftCertificate`. The state machine drives the aggregate through them, and
`strategies.command_sequences()` draws lists of them for tests that want no state machine:

    certificate = new_certificate()
    for step in run_commands(certificate, commands):
        assert step.error is None or isinstance(step.error, DomainError)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

import attrs

from gcp_domain.cause import Cause
from gcp_domain.certificate import GiftCertificate
from gcp_domain.certificate_values import Recipient
from gcp_domain.errors import DomainError
from gcp_domain.money import Money
from gcp_domain.numbers import CertificateNumber
from gcp_domain.vocabulary import NotificationChannel, RejectionReason

# Business time starts here; the clock is simulated, so runs are reproducible.
DEFAULT_START: Final = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
DEFAULT_POOL: Final = "default"
DEFAULT_NUMBER: Final = CertificateNumber.from_body("400012341234482")
ACTOR: Final = "test:lifecycle"
DEFAULT_RECIPIENT: Final = Recipient(name="Anna", email="anna@example.com")


class SimulatedClock:
    """Business time for commands that take a moment (`at`, `issued_at`, ...).

    Only moves forward. Event timestamps are the event store's own (wall-clock) time; this clock
    is what the commands are told, so expiry can be reached without waiting a year.
    """

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock keeps aware datetimes")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("the simulated clock does not go back")
        self._now += delta
        return self._now

    def advance_to(self, moment: datetime) -> datetime:
        """Moves to `moment` if that is later; never goes back."""
        self._now = max(self._now, moment)
        return self._now

    def __repr__(self) -> str:
        return f"SimulatedClock({self._now.isoformat()})"


class CauseFactory:
    """A fresh `Cause` per command: `test:lifecycle`, causation `msg-1`, `msg-2`, ..."""

    def __init__(self, actor: str = ACTOR, correlation_id: str = "lifecycle") -> None:
        self._actor = actor
        self._correlation_id = correlation_id
        self._counter = itertools.count(1)

    def __call__(self) -> Cause:
        return Cause(
            actor=self._actor,
            causation_id=f"msg-{next(self._counter)}",
            correlation_id=self._correlation_id,
        )


def new_certificate(
    *,
    pool: str = DEFAULT_POOL,
    number: CertificateNumber = DEFAULT_NUMBER,
    sealed_cvc: str = "sealed:cvc",
    cause: Cause | None = None,
) -> GiftCertificate:
    """A certificate freshly created in its pool (state AVAILABLE, its Created event pending)."""
    return GiftCertificate.create(
        pool=pool,
        number=number,
        sealed_cvc=sealed_cvc,
        cause=cause or Cause.system(ACTOR, "create"),
    )


class LifecycleCommand(Protocol):
    """Calls one public command of the aggregate; raises `DomainError` if a rule says no."""

    def apply(self, certificate: GiftCertificate, *, clock: SimulatedClock, cause: Cause) -> Any:
        """Returns what the aggregate's command returned."""
        ...


@attrs.frozen
class Reserve:
    order_id: str | None = None
    minutes: int = 30
    by: str = "channel:web"
    idempotency_key: str | None = None

    def apply(self, certificate: GiftCertificate, *, clock: SimulatedClock, cause: Cause) -> None:
        certificate.reserve(
            by=self.by,
            until=clock.now() + timedelta(minutes=self.minutes),
            idempotency_key=self.idempotency_key,
            order_id=self.order_id,
            cause=cause,
        )


@attrs.frozen
class ReleaseReservation:
    reason: str = "RESERVATION_TIMEOUT"

    def apply(self, certificate: GiftCertificate, *, clock: SimulatedClock, cause: Cause) -> bool:
        return certificate.release_reservation(reason=self.reason, cause=cause)


@attrs.frozen
class Issue:
    order_id: str
    amount: Money
    validity_days: int = 365
    channel: str = "WEB"
    notification_channel: NotificationChannel = NotificationChannel.EMAIL
    payment_ids: tuple[str, ...] = ("PAY-SALE",)
    client_id: str | None = "C-1"
    recipient: Recipient = DEFAULT_RECIPIENT

    def apply(self, certificate: GiftCertificate, *, clock: SimulatedClock, cause: Cause) -> bool:
        issued_at = clock.now()
        return certificate.issue(
            amount=self.amount,
            channel=self.channel,
            order_id=self.order_id,
            payment_ids=list(self.payment_ids),
            client_id=self.client_id,
            recipient=self.recipient,
            notification_channel=self.notification_channel,
            issued_at=issued_at,
            expires_at=issued_at + timedelta(days=self.validity_days),
            cause=cause,
        )


@attrs.frozen
class RequestNotification:
    notification_id: str
    channel: NotificationChannel | None = None

    def apply(self, certificate: GiftCertificate, *, clock: SimulatedClock, cause: Cause) -> bool:
        return certificate.request_notification(
            notification_id=self.notification_id, channel=self.channel, cause=cause
        )


@attrs.frozen
class DiscloseCvc:
    notification_id: str

    def apply(self, certificate: GiftCertificate, *, clock: SimulatedClock, cause: Cause) -> str:
        return certificate.disclose_cvc(notification_id=self.notification_id, cause=cause)


@attrs.frozen
class RecordNotificationResult:
    notification_id: str
    sent: bool
    error: str | None = None

    def apply(self, certificate: GiftCertificate, *, clock: SimulatedClock, cause: Cause) -> bool:
        return certificate.record_notification_result(
            notification_id=self.notification_id, sent=self.sent, error=self.error, cause=cause
        )


@attrs.frozen
class Redeem:
    payment_id: str
    amount: Money
    order_id: str | None = "POS-1"

    def apply(self, certificate: GiftCertificate, *, clock: SimulatedClock, cause: Cause) -> Any:
        return certificate.redeem(
            payment_id=self.payment_id,
            order_id=self.order_id,
            amount=self.amount,
            at=clock.now(),
            cause=cause,
        )


@attrs.frozen
class RejectRedemption:
    payment_id: str
    amount: Money
    reason: RejectionReason = RejectionReason.AMOUNT_MISMATCH
    order_id: str | None = "POS-1"

    def apply(self, certificate: GiftCertificate, *, clock: SimulatedClock, cause: Cause) -> bool:
        return certificate.reject_redemption(
            payment_id=self.payment_id,
            order_id=self.order_id,
            amount=self.amount,
            reason=self.reason,
            cause=cause,
        )


@attrs.frozen
class ReverseRedemption:
    refund_payment_id: str
    redemption_payment_id: str
    amount: Money

    def apply(self, certificate: GiftCertificate, *, clock: SimulatedClock, cause: Cause) -> bool:
        return certificate.reverse_redemption(
            refund_payment_id=self.refund_payment_id,
            redemption_payment_id=self.redemption_payment_id,
            amount=self.amount,
            cause=cause,
        )


@attrs.frozen
class StartRefund:
    payment_id: str
    amount: Money | None = None

    def apply(self, certificate: GiftCertificate, *, clock: SimulatedClock, cause: Cause) -> bool:
        return certificate.start_refund(payment_id=self.payment_id, amount=self.amount, cause=cause)


@attrs.frozen
class RefundNeedsDetails:
    payment_id: str
    amount: Money | None = None

    def apply(self, certificate: GiftCertificate, *, clock: SimulatedClock, cause: Cause) -> bool:
        return certificate.refund_needs_details(
            payment_id=self.payment_id, amount=self.amount, cause=cause
        )


@attrs.frozen
class CompleteRefund:
    payment_id: str
    amount: Money

    def apply(self, certificate: GiftCertificate, *, clock: SimulatedClock, cause: Cause) -> bool:
        return certificate.complete_refund(
            payment_id=self.payment_id, amount=self.amount, cause=cause
        )


@attrs.frozen
class FailRefund:
    payment_id: str
    reason: str | None = "card declined"
    amount: Money | None = None

    def apply(self, certificate: GiftCertificate, *, clock: SimulatedClock, cause: Cause) -> bool:
        return certificate.fail_refund(
            payment_id=self.payment_id, reason=self.reason, amount=self.amount, cause=cause
        )


@attrs.frozen
class Lock:
    reason: str = "fraud check"
    by: str = "support:desk"

    def apply(self, certificate: GiftCertificate, *, clock: SimulatedClock, cause: Cause) -> bool:
        return certificate.lock_for(reason=self.reason, by=self.by, at=clock.now(), cause=cause)


@attrs.frozen
class Unlock:
    reason: str | None = "investigation closed"
    by: str = "support:desk"

    def apply(self, certificate: GiftCertificate, *, clock: SimulatedClock, cause: Cause) -> bool:
        return certificate.unlock(reason=self.reason, by=self.by, cause=cause)


@attrs.frozen
class AdvanceClock:
    """Not a domain command: moves business time on (records nothing)."""

    delta: timedelta

    def apply(self, certificate: GiftCertificate, *, clock: SimulatedClock, cause: Cause) -> None:
        clock.advance(self.delta)


@attrs.frozen
class Expire:
    """The expiry timer's run at the clock's current time."""

    def apply(self, certificate: GiftCertificate, *, clock: SimulatedClock, cause: Cause) -> bool:
        return certificate.expire(at=clock.now(), cause=cause)


@attrs.frozen
class Cancel:
    reason: str = "ORDER_CANCELLED"

    def apply(self, certificate: GiftCertificate, *, clock: SimulatedClock, cause: Cause) -> bool:
        return certificate.cancel(reason=self.reason, cause=cause)


@attrs.frozen
class Step:
    """What one command did: its result, or the `DomainError` it raised, and its new events."""

    command: LifecycleCommand
    result: Any
    error: DomainError | None
    events: tuple[Any, ...]


def run_commands(
    certificate: GiftCertificate,
    commands: Iterable[LifecycleCommand],
    *,
    clock: SimulatedClock | None = None,
    causes: Callable[[], Cause] | None = None,
) -> Iterator[Step]:
    """Applies each command in turn, catching only `DomainError`, and yields what it did.

    The certificate must have no pending events (collect a fresh certificate's Created event
    first), so that `step.events` are exactly the events that step's command recorded.
    """
    clock = clock or SimulatedClock()
    causes = causes or CauseFactory()
    if certificate.pending_events:
        raise ValueError("collect the certificate's pending events before running commands")
    for command in commands:
        try:
            result = command.apply(certificate, clock=clock, cause=causes())
        except DomainError as error:
            yield Step(command, None, error, tuple(certificate.collect_events()))
        else:
            yield Step(command, result, None, tuple(certificate.collect_events()))
