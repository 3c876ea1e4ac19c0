"""Checking one GiftCertificate against the reference model, command by command and step by step.

`LifecycleChecks` is the base of `GiftCertificateMachine` (machine.py, which adds the rules). It
holds the certificate under test, the `LifecycleModel`, every recorded event and the simulated
clock; `execute` runs one command and checks that it did exactly what the model expected; the
`@invariant`s below run after every step. `observable` and `replay` are plain functions that
other tests use too.
"""

from __future__ import annotations

import json
from collections import Counter
from decimal import ROUND_DOWN, Decimal
from typing import Any, Final

from hypothesis.stateful import RuleBasedStateMachine, invariant

from gcp_domain.cause import Cause
from gcp_domain.certificate import GiftCertificate
from gcp_domain.errors import DomainError
from gcp_domain.money import Money, minor_digits
from gcp_domain.numbers import CertificateNumber
from gcp_domain.stream import STATUSES, Publication, publication
from gcp_domain.testing.commands import CauseFactory, LifecycleCommand, SimulatedClock
from gcp_domain.testing.model import Expect, LifecycleModel
from gcp_domain.vocabulary import CertificateState

S = CertificateState
# Where a certificate rests while no redemption may take money. Deliberately not the model's
# table: a second, blunt statement of the contract's `redeemable` ("only in ACTIVE").
NOT_REDEEMABLE: Final = frozenset(S) - {S.ACTIVE}

# How hypothesis marks an @invariant method (hypothesis.stateful.INVARIANT_MARKER).
_INVARIANT_MARKER: Final = "hypothesis_stateful_invariant"


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


class LifecycleChecks(RuleBasedStateMachine):
    """The certificate under test, its model, and every check; `GiftCertificateMachine` adds
    the rules. Attributes a subclass may read: `certificate` (the live aggregate), `model` (the
    `LifecycleModel`), `recorded` (every event recorded so far, Created first), `clock` (the
    simulated business clock), `refused` (how many commands a rule refused, by error code).
    """

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
        """Keeps the event, checks what it publishes (the status the model announced: the
        contract's "status says what just happened"), and hands it to `on_event`."""
        self.recorded.append(new_event)
        published = publication(certificate, new_event)
        status = published.status if published is not None else None
        assert status == self.model.announced, (
            f"{type(new_event).__qualname__} published {status}; "
            f"the model expected {self.model.announced}"
        )
        self.check_publication(certificate, new_event, published)
        self.on_event(certificate, new_event)

    def money_of(self, units: Decimal) -> Money:
        """`units` in the certificate's currency (RUB before issue), cut to its minor digits."""
        currency = self.model.currency or "RUB"
        quantum = Decimal(1).scaleb(-minor_digits(currency))
        return Money(units.quantize(quantum, rounding=ROUND_DOWN), currency)

    def _other_currency(self) -> str:
        return "USD" if self.model.currency != "USD" else "EUR"

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
        now = self.clock.now()
        assert certificate.is_redeemable(now) is model.redeemable(now), f"redeemable at {now}"
        assert set(certificate.redemptions) == set(model.redemptions)
        for payment_id, redemption in certificate.redemptions.items():
            assert redemption.amount == model.redemptions[payment_id].amount
            assert redemption.reversed == model.redemptions[payment_id].reversed
        assert certificate.rejected_payments == model.rejected
        assert certificate.reversals == model.reversals
        lock = certificate.lock
        assert (lock.previous_state if lock else None) is model.locked_from
        note, model_note = certificate.notification, model.notification
        assert (note is None) is (model_note is None)
        if note is not None and model_note is not None:
            assert (
                note.notification_id,
                note.status,
                note.attempt,
                note.cvc_disclosed,
                note.channel,
            ) == (
                model_note.notification_id,
                model_note.status,
                model_note.attempt,
                model_note.cvc_disclosed,
                model_note.channel,
            ), f"{note} != model {model_note}"
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
