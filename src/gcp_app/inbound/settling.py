"""Settling a sale order: what its facts call for (`SalesOrder.due()`), carried out through the
use cases, each outcome recorded on the order as its decision.

Each kind of due item has its entry in one table; an item of a kind with no entry is refused
(TypeError), never carried out as some other kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar
from uuid import UUID

from gcp_app.defaults import Defaults
from gcp_app.inbound.envelopes import Problem
from gcp_app.inbound.work import BatchUnitOfWork
from gcp_app.use_cases import (
    CancelCertificate,
    Command,
    IssueCertificate,
    RecordRefundStep,
    Redeem,
    RejectRedemption,
    ReleaseReservation,
    ReverseRedemption,
    UseCases,
)
from gcp_domain.cause import Cause
from gcp_domain.certificate_values import Recipient
from gcp_domain.errors import DomainError
from gcp_domain.money import Money
from gcp_domain.order import SalesOrder
from gcp_domain.order_values import (
    CancelDue,
    Due,
    IssueDue,
    RedemptionDue,
    RefundStep,
    RefundStepDue,
    ReleaseDue,
    ReversalDue,
    Subject,
)
from gcp_domain.vocabulary import (
    DecisionKind,
    DecisionOutcome,
    NotificationChannel,
    RejectionReason,
)

R = TypeVar("R")
K = DecisionKind
DONE: Final = DecisionOutcome.DONE
REFUSED: Final = DecisionOutcome.REFUSED
# Rounds of `due()` per message: an effect can make another due (a redemption applied lets a
# parked reversal of it go), never more than a couple of times.
SETTLE_ROUNDS: Final = 4

Settle = Callable[[BatchUnitOfWork, SalesOrder, Any, Cause], Problem | None]


class Settler:
    def __init__(self, use_cases: UseCases, defaults: Defaults) -> None:
        self._use_cases = use_cases
        self._defaults = defaults
        self._settle: dict[type[Due], Settle] = {
            IssueDue: self._issue,
            ReleaseDue: self._release,
            CancelDue: self._cancel,
            RedemptionDue: self._redeem,
            RefundStepDue: self._refund_step,
            ReversalDue: self._reverse,
        }

    def settle(self, work: BatchUnitOfWork, order: SalesOrder, cause: Cause) -> list[Problem]:
        """Carries out what the order's facts call for; returns what this message is at fault
        for (a dead letter), after recording every decision on the order."""
        problems: list[Problem] = []
        for _ in range(SETTLE_ROUNDS):
            due = order.due()
            if not due:
                break
            for item in due:
                problem = self.carry_out(work, order, item, cause)
                if problem is not None:
                    problems.append(problem)
        return problems

    def carry_out(
        self, work: BatchUnitOfWork, order: SalesOrder, item: Due, cause: Cause
    ) -> Problem | None:
        settle = self._settle.get(type(item))
        if settle is None:
            raise TypeError(f"no matching rule settles {type(item).__name__}")
        return settle(work, order, item, cause)

    # ------------------------------------------------------------------ rule 1: issue

    def _issue(
        self, work: BatchUnitOfWork, order: SalesOrder, item: IssueDue, cause: Cause
    ) -> Problem | None:
        line = item.line
        contact = line.recipient or order.customer  # The recipient defaults to the buyer.
        payments = sorted(
            p.payment_id for p in order.payments.values() if p.succeeded and not p.by_certificate
        )
        refusal = self._refusal(
            work,
            IssueCertificate(
                certificate_id=UUID(line.certificate_id),
                amount=Money(line.amount, self._defaults.currency_or_default(order.currency)),
                channel=order.channel or "",
                order_id=order.order_id,
                payment_ids=tuple(payments),
                client_id=order.client_id,
                recipient=Recipient(**contact) if contact else Recipient(),
                notification_channel=NotificationChannel(line.notification_channel),
                validity_days=line.validity_days,
                cause=cause,
            ),
        )
        _decide(order, K.ISSUE, line.certificate_id, line.certificate_id, refusal, cause)
        if refusal is not None:
            return Problem("issue-refused", f"certificate {line.certificate_id}: {refusal}")
        return None

    def _release(
        self, work: BatchUnitOfWork, order: SalesOrder, item: ReleaseDue, cause: Cause
    ) -> Problem | None:
        reason = "ORDER_CANCELLED" if order.cancelled else "PAYMENT_FAILED"
        refusal = self._refusal(
            work,
            ReleaseReservation(
                certificate_id=UUID(item.certificate_id), reason=reason, cause=cause
            ),
        )
        _decide(order, K.RELEASE, item.certificate_id, item.certificate_id, refusal, cause)
        return None

    def _cancel(
        self, work: BatchUnitOfWork, order: SalesOrder, item: CancelDue, cause: Cause
    ) -> Problem | None:
        # A refusal is not the message's fault (say, the certificate was already used): it is
        # recorded on the order for support and audit, not dead-lettered.
        refusal = self._refusal(
            work,
            CancelCertificate(
                certificate_id=UUID(item.certificate_id), reason=item.reason, cause=cause
            ),
        )
        _decide(order, K.CANCEL, item.certificate_id, item.certificate_id, refusal, cause)
        return None

    # ------------------------------------------------------------------ rule 2: redemption

    def _redeem(
        self, work: BatchUnitOfWork, order: SalesOrder, item: RedemptionDue, cause: Cause
    ) -> Problem | None:
        payment = item.payment
        certificate = work.certificate_by_number(payment.certificate_number)
        if certificate is None:
            _decide(order, K.REDEMPTION, payment.payment_id, None, "UNKNOWN_CERTIFICATE", cause)
            return Problem(
                "unknown-certificate", f"payment {payment.payment_id} names an unknown certificate"
            )
        amount = Money(payment.amount, payment.currency)
        if item.matched:
            outcome = self._use_cases.run(
                work,
                Redeem(
                    certificate_id=certificate.id,
                    payment_id=payment.payment_id,
                    order_id=order.order_id,
                    amount=amount,
                    cause=cause,
                ),
            )
            reason = outcome.reason.value if outcome.reason else None
        else:
            self._use_cases.run(
                work,
                RejectRedemption(
                    certificate_id=certificate.id,
                    payment_id=payment.payment_id,
                    order_id=order.order_id,
                    amount=amount,
                    reason=RejectionReason.AMOUNT_MISMATCH,
                    cause=cause,
                ),
            )
            reason = RejectionReason.AMOUNT_MISMATCH.value
        # Done either way: a refused redemption is a recorded fact (REDEMPTION_REJECTED).
        order.decide(
            K.REDEMPTION,
            payment.payment_id,
            outcome=DONE,
            reason=reason,
            certificate_id=str(certificate.id),
            cause=cause,
        )
        return None

    # ------------------------------------------------------------------ rule 3: refund

    def _refund_step(
        self, work: BatchUnitOfWork, order: SalesOrder, item: RefundStepDue, cause: Cause
    ) -> Problem | None:
        payment = item.payment
        subject = RefundStep(payment.payment_id, item.step)
        if work.find_certificate(UUID(item.certificate_id)) is None:
            _decide(order, K.REFUND, subject, item.certificate_id, "UNKNOWN_CERTIFICATE", cause)
            return Problem("unknown-certificate", "refunds names an unknown certificate")
        refusal = self._refusal(
            work,
            RecordRefundStep(
                certificate_id=UUID(item.certificate_id),
                step=item.step,
                payment_id=payment.payment_id,
                order_id=order.order_id,
                amount=Money(payment.amount, payment.currency),
                refund_of=payment.refund_of,
                cause=cause,
            ),
        )
        _decide(order, K.REFUND, subject, item.certificate_id, refusal, cause)
        if refusal is not None:
            return Problem("refund-refused", f"refund {payment.payment_id}: {refusal}")
        return None

    # ------------------------------------------------------------------ rule 4: reversal

    def _reverse(
        self, work: BatchUnitOfWork, order: SalesOrder, item: ReversalDue, cause: Cause
    ) -> Problem | None:
        payment = item.payment
        certificate = work.certificate_by_number(payment.certificate_number)
        problem: Problem | None = None
        if certificate is None:
            problem = Problem("unknown-certificate", "the refund names an unknown certificate")
        elif not payment.refund_of:
            problem = Problem("invalid-message", "a refund to a certificate needs refundOf")
        else:
            refusal = self._refusal(
                work,
                ReverseRedemption(
                    certificate_id=certificate.id,
                    refund_payment_id=payment.payment_id,
                    redemption_payment_id=payment.refund_of,
                    amount=Money(payment.amount, payment.currency),
                    cause=cause,
                ),
            )
            if refusal is not None:
                problem = Problem("reversal-refused", refusal)
        certificate_id = str(certificate.id) if certificate else None
        reason = problem.reason if problem else None
        _decide(order, K.REVERSAL, payment.payment_id, certificate_id, reason, cause)
        return problem

    def _refusal(self, work: BatchUnitOfWork, command: Command[Any]) -> str | None:
        """Runs the use case; why the certificate refused, or None if it took the change."""
        try:
            self._use_cases.run(work, command)
        except DomainError as error:
            return error.message
        return None


def _decide(
    order: SalesOrder,
    kind: DecisionKind,
    subject: Subject,
    certificate_id: str | None,
    refusal: str | None,
    cause: Cause,
) -> None:
    """Records the decision: done, or refused with why."""
    order.decide(
        kind,
        subject,
        outcome=DONE if refusal is None else REFUSED,
        reason=refusal,
        certificate_id=certificate_id,
        cause=cause,
    )
