"""The sale order as GCP sees it: the facts that arrived about it, the decisions taken, and the
matching rules that say which certificate changes are due.

Channels tell GCP about an order in pieces that arrive in any order, any number of times: the
order's full state after each change (All_SalesOrder) and its payments (All_Payments). This
aggregate keeps every fact once (by messageId), merges them so that arrival order does not
matter (unions and maxima, never "the last one wins"), and records each decision taken, so that
matching survives restarts, never acts twice, and can be replayed for an audit.

`due()` is pure: it lists the certificate changes the facts call for and no decision has settled
yet. The application carries them out on the certificates and records the outcome with
`decide()`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final
from uuid import NAMESPACE_URL, UUID, uuid5

import attrs
from eventsourcing.domain import Aggregate, event

from gcp_domain.cause import Cause
from gcp_domain.errors import ConflictingDuplicate
from gcp_domain.order_values import (
    CancelDue,
    CertificateLine,
    Decision,
    Due,
    IssueDue,
    Payment,
    RedemptionDue,
    RefundStep,
    RefundStepDue,
    ReleaseDue,
    ReversalDue,
    Subject,
)
from gcp_domain.text import cut
from gcp_domain.vocabulary import (
    PAYMENT_FAILED,
    REFUND_STEPS,
    DecisionKind,
    DecisionOutcome,
    PaymentEvent,
)

ORDER_NAMESPACE: Final = uuid5(NAMESPACE_URL, "urn:gcp:sales-order")

ORDER_CANCELLED: Final = "ORDER_CANCELLED"
K = DecisionKind
P = PaymentEvent
# The payment events GCP acts on; any other is not about certificates.
PAYMENT_TYPES: Final = frozenset(PaymentEvent)


# Which inbound topic a message came from: the same messageId on two topics is two facts.
ORDER_SOURCE: Final = "order"
PAYMENT_SOURCE: Final = "payment"


def _digest(facts: dict[str, Any]) -> str:
    """A digest of the facts a message records (not of its bytes: a redelivery may be
    serialised differently, and fields GCP does not record do not count)."""
    canonical = json.dumps(facts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


@functools.lru_cache(maxsize=8192)
def sales_order_id(order_id: str) -> UUID:
    # Cached: the matcher asks for it several times per message (a hash each time).
    return uuid5(ORDER_NAMESPACE, order_id)


class _DigestSinceVersion2:
    """A message event: class version 2 added `digest`; one stored before has None."""

    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["digest"] = None


class SalesOrder(Aggregate):
    TOPIC = "gcp:SalesOrder"

    class Event(Aggregate.Event):
        cause: Cause

    class Created(Event, Aggregate.Created):
        TOPIC = "gcp:SalesOrder.Created"
        order_id: str

    class OrderMessageReceived(_DigestSinceVersion2, Event):
        TOPIC = "gcp:SalesOrder.OrderMessageReceived"
        message_id: str
        event_type: str
        channel: str | None
        client_id: str | None
        customer: dict[str, str | None] | None
        currency: str
        certificate_lines: list[dict[str, Any]]
        redemption_lines: list[list[str]]
        refund_lines: list[dict[str, str | None]]
        # Since class version 2: a digest of the facts above, so that a redelivery with other
        # facts is told from a plain one (None on events stored before).
        digest: str | None

    class PaymentReceived(_DigestSinceVersion2, Event):
        TOPIC = "gcp:SalesOrder.PaymentReceived"
        message_id: str
        payment_id: str
        event_type: str
        method: str
        amount: Decimal
        currency: str
        certificate_number: str | None
        refund_of: str | None
        digest: str | None  # as on OrderMessageReceived

    class Decided(Event):
        TOPIC = "gcp:SalesOrder.Decided"
        kind: str
        subject: str
        outcome: str
        reason: str | None
        certificate_id: str | None

    @staticmethod
    def create_id(order_id: str) -> UUID:
        return sales_order_id(order_id)

    @event(Created)
    def __init__(self, order_id: str, cause: Cause) -> None:
        self.order_id = order_id
        # Messages recorded, by (topic's kind, messageId): the digest of their facts.
        self.messages: dict[tuple[str, str], str | None] = {}
        self.channel: str | None = None
        self.client_id: str | None = None
        self.customer: dict[str, str | None] | None = None
        self.currency: str | None = None
        self.cancelled = False
        self.lines: dict[str, CertificateLine] = {}
        self.redemption_lines: Counter[tuple[str, Decimal]] = Counter()
        self.refund_lines: dict[str, str | None] = {}
        self.payments: dict[str, Payment] = {}
        self.decisions: dict[tuple[DecisionKind, Subject], Decision] = {}

    # ------------------------------------------------------------------ facts

    def _record_once(
        self,
        source: str,
        message_id: str,
        facts: dict[str, Any],
        record: Callable[..., None],
        cause: Cause,
    ) -> bool:
        """Records a message's `facts` with `record` (its @event method), once per messageId
        on its topic. Returns False for a redelivery; raises ConflictingDuplicate for a
        redelivery with other facts."""
        digest = _digest(facts)
        if (source, message_id) in self.messages:
            recorded = self.messages[(source, message_id)]
            if recorded is not None and recorded != digest:
                raise ConflictingDuplicate(
                    f"messageId {message_id} was delivered before with other facts; "
                    "the first delivery stands"
                )
            return False
        record(message_id=message_id, digest=digest, cause=cause, **facts)
        return True

    def receive_order_message(
        self,
        *,
        message_id: str,
        event_type: str,
        channel: str | None,
        client_id: str | None,
        customer: dict[str, str | None] | None,
        currency: str,
        certificate_lines: list[CertificateLine],
        redemption_lines: list[tuple[str, Decimal]],
        refund_lines: list[tuple[str, str | None]],
        cause: Cause,
    ) -> bool:
        """Records the order's state from one All_SalesOrder message, once per messageId on
        that topic. Returns False for a redelivery; raises ConflictingDuplicate for a
        redelivery with other facts."""
        facts: dict[str, Any] = {
            "event_type": event_type,
            "channel": channel,
            "client_id": client_id,
            "customer": None if customer is None else {k: cut(v) for k, v in customer.items()},
            "currency": currency,
            "certificate_lines": [line.as_fact() for line in certificate_lines],
            "redemption_lines": [[number, str(amount)] for number, amount in redemption_lines],
            "refund_lines": [
                {"certificateId": cid, "reason": cut(reason)} for cid, reason in refund_lines
            ],
        }
        return self._record_once(
            ORDER_SOURCE, message_id, facts, self._receive_order_message, cause
        )

    @event(OrderMessageReceived)
    def _receive_order_message(
        self,
        message_id: str,
        event_type: str,
        channel: str | None,
        client_id: str | None,
        customer: dict[str, str | None] | None,
        currency: str,
        certificate_lines: list[dict[str, Any]],
        redemption_lines: list[list[str]],
        refund_lines: list[dict[str, str | None]],
        digest: str | None,
        cause: Cause,
    ) -> None:
        self.messages[(ORDER_SOURCE, message_id)] = digest
        self.channel = self.channel or channel
        self.client_id = self.client_id or client_id
        self.customer = self.customer or customer
        self.currency = self.currency or currency
        self.cancelled = self.cancelled or event_type == ORDER_CANCELLED
        for fact in certificate_lines:
            line = CertificateLine.from_fact(fact)
            self.lines.setdefault(line.certificate_id, line)
        # Every message repeats the whole order: a line seen again is the same line, so the
        # order has as many lines of (number, amount) as the most any one message listed.
        if redemption_lines:  # most orders have none: no Counter to build
            seen = Counter((number, Decimal(amount)) for number, amount in redemption_lines)
            for key, count in seen.items():
                self.redemption_lines[key] = max(self.redemption_lines[key], count)
        for fact in refund_lines:
            self.refund_lines.setdefault(str(fact["certificateId"]), fact["reason"])

    def receive_payment(
        self,
        *,
        message_id: str,
        payment_id: str,
        event_type: PaymentEvent,
        method: str,
        amount: Decimal,
        currency: str,
        certificate_number: str | None,
        refund_of: str | None,
        cause: Cause,
    ) -> bool:
        """Records one All_Payments message, once per messageId on that topic. Returns False
        for a redelivery; raises ConflictingDuplicate for a redelivery with other facts."""
        facts: dict[str, Any] = {
            "payment_id": payment_id,
            "event_type": PaymentEvent(event_type).value,
            "method": method,
            "amount": amount,
            "currency": currency,
            "certificate_number": certificate_number,
            "refund_of": refund_of,
        }
        return self._record_once(PAYMENT_SOURCE, message_id, facts, self._receive_payment, cause)

    @event(PaymentReceived)
    def _receive_payment(
        self,
        message_id: str,
        payment_id: str,
        event_type: str,
        method: str,
        amount: Decimal,
        currency: str,
        certificate_number: str | None,
        refund_of: str | None,
        digest: str | None,
        cause: Cause,
    ) -> None:
        self.messages[(PAYMENT_SOURCE, message_id)] = digest
        happened = PaymentEvent(event_type)
        known = self.payments.get(payment_id)
        if known is None:
            self.payments[payment_id] = Payment(
                payment_id=payment_id,
                method=method,
                amount=amount,
                currency=currency,
                certificate_number=certificate_number,
                refund_of=refund_of,
                types=frozenset({happened}),
            )
        else:
            self.payments[payment_id] = attrs.evolve(known, types=known.types | {happened})

    # ------------------------------------------------------------------ decisions

    def decision(self, kind: DecisionKind, subject: Subject) -> Decision | None:
        return self.decisions.get((kind, subject))

    def decide(
        self,
        kind: DecisionKind,
        subject: Subject,
        *,
        outcome: DecisionOutcome,
        reason: str | None = None,
        certificate_id: str | None = None,
        cause: Cause,
    ) -> None:
        """Records what became of a due item, once: a decision is never taken again."""
        if (kind, subject) in self.decisions:
            return
        self._decide(
            kind=kind.value,
            subject=str(subject),
            outcome=outcome.value,
            reason=cut(reason),
            certificate_id=certificate_id,
            cause=cause,
        )

    @event(Decided)
    def _decide(
        self,
        kind: str,
        subject: str,
        outcome: str,
        reason: str | None,
        certificate_id: str | None,
        cause: Cause,
    ) -> None:
        decided = DecisionKind(kind)
        key: Subject = RefundStep.parse(subject) if decided is DecisionKind.REFUND else subject
        self.decisions[(decided, key)] = Decision(DecisionOutcome(outcome), reason, certificate_id)

    def _done(self, kind: DecisionKind, subject: Subject) -> bool:
        decided = self.decisions.get((kind, subject))
        return decided is not None and decided.done

    # ------------------------------------------------------------------ the matching rules

    @property
    def required(self) -> Decimal:
        """What the certificates sold by this order are worth."""
        return sum((line.amount for line in self.lines.values()), Decimal(0))

    @property
    def paid(self) -> Decimal:
        """Successful payments in the order's currency, other than by gift certificate."""
        return sum(
            (
                p.amount
                for p in self.payments.values()
                if p.succeeded and not p.by_certificate and p.currency == self.currency
            ),
            Decimal(0),
        )

    @property
    def payment_failed(self) -> bool:
        return any(
            p.types & PAYMENT_FAILED and not p.by_certificate for p in self.payments.values()
        )

    def due(self) -> list[Due]:
        """The certificate changes the facts call for that no decision has settled yet."""
        return [*self._issues_due(), *self._redemptions_due(), *self._refunds_due()]

    def _issues_due(self) -> list[Due]:
        """Rule 1: issue when paid; release or cancel on failure, void or cancellation."""
        due: list[Due] = []
        paid_in_full = bool(self.lines) and self.paid >= self.required
        for certificate_id, line in self.lines.items():
            issued = self._done(K.ISSUE, certificate_id)
            settled = self.decision(K.CANCEL, certificate_id) is not None or (
                self.decision(K.ISSUE, certificate_id) is not None and not issued
            )
            if settled:
                continue  # Cancelled, or its issue was refused: nothing more to do.
            if self.cancelled or (self.payment_failed and not paid_in_full):
                reason = "ORDER_CANCELLED" if self.cancelled else "PAYMENT_FAILED"
                if issued:
                    due.append(CancelDue(certificate_id, reason))
                elif self.decision(K.RELEASE, certificate_id) is None:
                    due.append(ReleaseDue(certificate_id))
            elif paid_in_full and not issued:
                due.append(IssueDue(line))
        return due

    def _redemptions_due(self) -> list[Due]:
        """Rule 2: an order line (number, amount) and a REDEMPTION payment make a redemption."""
        due: list[Due] = []
        consumed: Counter[tuple[str, Decimal]] = Counter()
        for payment in self.payments.values():
            if P.REDEMPTION in payment.types and self.decision(K.REDEMPTION, payment.payment_id):
                consumed[(payment.certificate_number or "", payment.amount)] += 1
        for payment in self.payments.values():
            if P.REDEMPTION not in payment.types or self.decision(K.REDEMPTION, payment.payment_id):
                continue
            number = payment.certificate_number or ""
            key = (number, payment.amount)
            amounts = {amount for (n, amount) in self.redemption_lines if n == number}
            if not amounts:
                continue  # The order line has not arrived yet.
            if consumed[key] < self.redemption_lines[key]:
                consumed[key] += 1
                due.append(RedemptionDue(payment, matched=True))
            elif payment.amount not in amounts:
                due.append(RedemptionDue(payment, matched=False))
        return due

    def _refunds_due(self) -> list[Due]:
        """Rule 3 (refund of a certificate's purchase) and rule 4 (reversal of a redemption)."""
        due: list[Due] = []
        for payment in self.payments.values():
            steps = [step for step in REFUND_STEPS if step in payment.types]
            if not steps:
                continue
            if payment.by_certificate:
                if P.REFUND_COMPLETED in payment.types and not self.decision(
                    K.REVERSAL, payment.payment_id
                ):
                    waiting = self._redemption_awaited(payment.refund_of)
                    if not waiting:
                        due.append(ReversalDue(payment))
                continue
            certificate_id = self._refunded_certificate(payment)
            if certificate_id is None:
                continue  # The order's refunds line has not arrived yet.
            for step in steps:
                if not self.decision(K.REFUND, RefundStep(payment.payment_id, step)):
                    due.append(RefundStepDue(payment, certificate_id, step))
        return due

    def _redemption_awaited(self, redemption_payment_id: str | None) -> bool:
        """A reversal waits while the redemption it returns is known here but not yet applied."""
        if redemption_payment_id is None:
            return False
        payment = self.payments.get(redemption_payment_id)
        return (
            payment is not None
            and P.REDEMPTION in payment.types
            and self.decision(K.REDEMPTION, redemption_payment_id) is None
        )

    def _same_refund(self, payment_id: str, payment: Payment) -> bool:
        other = self.payments.get(payment_id)
        return (
            payment.refund_of is not None
            and other is not None
            and other.refund_of == payment.refund_of
        )

    def _refunded_certificate(self, payment: Payment) -> str | None:
        """Which refunds line a refund payment is for: the one it was paired with before; the
        one whose refund it continues (a payment naming the same sale payment in refundOf, with
        steps that refund has not had yet: rule 3's separate payments); the only line; the line
        whose certificate sold for the refunded amount; else the first line not yet paired."""
        pairs = [
            (decision.certificate_id, subject.payment_id, subject.step)
            for (kind, subject), decision in self.decisions.items()
            if isinstance(subject, RefundStep) and decision.certificate_id
        ]
        for certificate_id, payment_id, _ in pairs:
            if payment_id == payment.payment_id:
                return certificate_id
        for certificate_id in dict.fromkeys(c for c, _, _ in pairs):
            had = {
                step
                for c, payment_id, step in pairs
                if c == certificate_id and self._same_refund(payment_id, payment)
            }
            if had and not had & payment.types:
                return certificate_id
        paired = {certificate_id for certificate_id, _, _ in pairs}
        candidates = [cid for cid in self.refund_lines if cid not in paired]
        if len(self.refund_lines) == 1:
            return next(iter(self.refund_lines))
        for certificate_id in candidates:
            line = self.lines.get(certificate_id)
            if line is not None and line.amount == payment.amount:
                return certificate_id
        return candidates[0] if candidates else None
