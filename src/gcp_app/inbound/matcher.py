"""Matching one inbound message: its facts recorded on its sale order (once per topic and
messageId; a redelivery with other facts is a dead letter, `conflicting-duplicate`),
then what they call for settled (gcp_app.inbound.settling); or a dead letter with its reason."""

from __future__ import annotations

from gcp_app.dead_letters import DeadLetter
from gcp_app.defaults import Defaults
from gcp_app.inbound.envelopes import Envelope, Handled, Outcome, Problem, Refusal
from gcp_app.inbound.messages import ClientMessage, PaymentMessage, SalesOrderMessage
from gcp_app.inbound.settling import Settler
from gcp_app.inbound.translation import money, order_facts
from gcp_app.inbound.work import BatchUnitOfWork
from gcp_app.use_cases import RecordNotificationResult, UseCases
from gcp_domain.cause import Cause
from gcp_domain.errors import ConflictingDuplicate, DomainError, InvalidCertificateNumber
from gcp_domain.numbers import CertificateNumber
from gcp_domain.order import ORDER_CANCELLED, PAYMENT_TYPES, SalesOrder
from gcp_domain.order_values import GIFT_CERTIFICATE
from gcp_domain.vocabulary import PaymentEvent


class Matcher:
    def __init__(self, use_cases: UseCases, defaults: Defaults) -> None:
        self._use_cases = use_cases
        self._defaults = defaults
        self._settler = Settler(use_cases, defaults)

    def handle(self, work: BatchUnitOfWork, envelope: Envelope) -> Handled:
        """What became of the message; its changes are made on `work`'s copies."""
        if envelope.problem is not None:
            return self._dead_letter(work, envelope, envelope.problem)
        message = envelope.message
        try:
            if isinstance(message, SalesOrderMessage):
                outcome = self._order_message(work, envelope, message)
            elif isinstance(message, PaymentMessage):
                outcome = self._payment_message(work, envelope, message)
            elif isinstance(message, ClientMessage):
                outcome = self._client_message(work, envelope, message)
            else:
                outcome = Outcome.IGNORED
        except Refusal as refusal:
            return self._dead_letter(work, envelope, refusal.problem)
        except ConflictingDuplicate as conflict:
            return self._dead_letter(work, envelope, Problem(conflict.code, conflict.message))
        return Handled(envelope, outcome)

    def _dead_letter(self, work: BatchUnitOfWork, envelope: Envelope, problem: Problem) -> Handled:
        message_id = envelope.message_id or getattr(envelope.message, "message_id", None)
        work.dead_letters.append(
            DeadLetter.record(
                topic=envelope.topic,
                partition=envelope.partition,
                offset=envelope.offset,
                key=envelope.key,
                value=envelope.value,
                message_id=message_id,
                reason_code=problem.code,
                reason=problem.reason,
                cause=_cause(envelope, message_id or f"offset-{envelope.offset}", None),
            )
        )
        return Handled(envelope, Outcome.DEAD_LETTERED, problem)

    # ------------------------------------------------------------------ All_SalesOrder

    def _order_message(
        self, work: BatchUnitOfWork, envelope: Envelope, message: SalesOrderMessage
    ) -> Outcome:
        cause = _cause(envelope, message.message_id, message.order_id)
        if not message.is_about_certificates:
            # A cancellation may omit the lines of an order we know: it still counts.
            known = work.known_order(message.order_id)
            if known is None or message.event_type != ORDER_CANCELLED:
                return Outcome.IGNORED
        facts = order_facts(
            message, self._defaults, lambda cid: work.find_certificate(cid) is not None
        )
        order = work.order(message.order_id, cause)
        if not order.receive_order_message(
            message_id=message.message_id,
            event_type=message.event_type,
            channel=message.channel,
            client_id=message.customer.client_id if message.customer else None,
            customer=facts.customer,
            currency=facts.currency,
            certificate_lines=facts.lines,
            redemption_lines=facts.redemptions,
            refund_lines=facts.refunds,
            cause=cause,
        ):
            return Outcome.DUPLICATE
        unknown = ", ".join(facts.unknown)
        return self._settled(
            work,
            order,
            cause,
            [
                Problem(
                    "unknown-certificate",
                    f"giftCertificates names an unknown certificate: {unknown}",
                )
            ]
            if unknown
            else [],
        )

    # ------------------------------------------------------------------ All_Payments

    def _payment_message(
        self, work: BatchUnitOfWork, envelope: Envelope, message: PaymentMessage
    ) -> Outcome:
        if message.event_type not in PAYMENT_TYPES:
            return Outcome.IGNORED
        self._check_certificate_named(work, message)
        cause = _cause(envelope, message.message_id, message.order_id)
        amount = money(message.amount, message.currency, self._defaults)
        order = work.order(message.order_id, cause)
        if not order.receive_payment(
            message_id=message.message_id,
            payment_id=message.payment_id,
            event_type=PaymentEvent(message.event_type),
            method=message.method or "",
            amount=amount.amount,
            currency=amount.currency,
            certificate_number=message.certificate_number,
            refund_of=message.refund_of,
            cause=cause,
        ):
            return Outcome.DUPLICATE
        return self._settled(work, order, cause, [])

    @staticmethod
    def _check_certificate_named(work: BatchUnitOfWork, message: PaymentMessage) -> None:
        """A payment by certificate names one GCP knows, or it is the message at fault: it is
        dead-lettered now, before its facts are recorded, whatever order line it pairs with."""
        if message.event_type != PaymentEvent.REDEMPTION and message.method != GIFT_CERTIFICATE:
            return
        try:
            CertificateNumber.parse(message.certificate_number or "")
        except InvalidCertificateNumber as error:
            raise Refusal("invalid-message", f"certificateNumber: {error.message}") from None
        if work.certificate_by_number(message.certificate_number) is None:
            raise Refusal(
                "unknown-certificate",
                f"payment {message.payment_id} names an unknown certificate",
            )

    def _settled(
        self, work: BatchUnitOfWork, order: SalesOrder, cause: Cause, problems: list[Problem]
    ) -> Outcome:
        """Settles what the order's facts call for now; the message becomes a dead letter for
        what it is at fault for (`problems`, then what settling found), its facts kept."""
        problems += self._settler.settle(work, order, cause)
        if problems:
            raise Refusal(problems[0].code, "; ".join(p.reason for p in problems))
        return Outcome.APPLIED

    # ------------------------------------------------------------------ All_Clients

    def _client_message(
        self, work: BatchUnitOfWork, envelope: Envelope, message: ClientMessage
    ) -> Outcome:
        result = message.gift_certificate_notification
        if result is None:
            return Outcome.IGNORED
        if result.result not in ("SENT", "FAILED"):
            raise Refusal("invalid-message", "result must be SENT or FAILED")
        if work.find_certificate(result.certificate_id) is None:
            raise Refusal("unknown-certificate", "the notification names an unknown certificate")
        try:
            changed = self._use_cases.run(
                work,
                RecordNotificationResult(
                    certificate_id=result.certificate_id,
                    notification_id=result.notification_id,
                    sent=result.sent,
                    error=result.error,
                    cause=_cause(envelope, message.message_id, message.client_id),
                ),
            )
        except DomainError as error:
            raise Refusal("notification-refused", error.message) from None
        return Outcome.APPLIED if changed else Outcome.DUPLICATE


def _cause(envelope: Envelope, message_id: str, correlation: str | None) -> Cause:
    return Cause(f"kafka:{envelope.topic}", message_id, correlation or message_id)
