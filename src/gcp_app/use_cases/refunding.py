"""Refunding a certificate's purchase (CONTRACTS.md rule 3): each step a refund payment
reports moves the certificate on, in whatever order the steps arrive."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import attrs

from gcp_app.use_cases.command import CertificateCommand, Context
from gcp_app.use_cases.unit_of_work import UnitOfWork
from gcp_domain.certificate import GiftCertificate
from gcp_domain.errors import RefundRejected
from gcp_domain.money import Money
from gcp_domain.vocabulary import PaymentEvent


@attrs.frozen(kw_only=True)
class RecordRefundStep(CertificateCommand[bool]):
    """One step of the refund of the certificate's purchase, reported for `order_id`, which
    must be the order that sold the certificate. `reason` explains a failed refund."""

    step: PaymentEvent
    payment_id: str
    order_id: str
    amount: Money | None = None
    reason: str | None = None
    # The sale payment the step names: the steps of one refund may come as payments of their
    # own, each naming it (contract 1.1, rule 3).
    refund_of: str | None = None


def _pending(certificate: GiftCertificate, command: RecordRefundStep) -> bool:
    return certificate.start_refund(
        payment_id=command.payment_id,
        amount=command.amount,
        refund_of=command.refund_of,
        cause=command.cause,
    )


def _pending_details(certificate: GiftCertificate, command: RecordRefundStep) -> bool:
    return certificate.refund_needs_details(
        payment_id=command.payment_id,
        amount=command.amount,
        refund_of=command.refund_of,
        cause=command.cause,
    )


def _completed(certificate: GiftCertificate, command: RecordRefundStep) -> bool:
    if command.amount is None:
        raise RefundRejected("a completed refund needs its amount")
    return certificate.complete_refund(
        payment_id=command.payment_id,
        amount=command.amount,
        refund_of=command.refund_of,
        cause=command.cause,
    )


def _failed(certificate: GiftCertificate, command: RecordRefundStep) -> bool:
    return certificate.fail_refund(
        payment_id=command.payment_id,
        reason=command.reason,
        amount=command.amount,
        refund_of=command.refund_of,
        cause=command.cause,
    )


# Each step of a refund, the command of the certificate it runs. A payment event that is no
# refund step has no entry, and is refused rather than run as some other step.
STEPS: Final[dict[PaymentEvent, Callable[[GiftCertificate, RecordRefundStep], bool]]] = {
    PaymentEvent.REFUND_PENDING: _pending,
    PaymentEvent.REFUND_PENDING_DETAILS: _pending_details,
    PaymentEvent.REFUND_COMPLETED: _completed,
    PaymentEvent.REFUND_FAILED: _failed,
}


def record_refund_step(context: Context, work: UnitOfWork, command: RecordRefundStep) -> bool:
    step = STEPS.get(command.step)
    if step is None:
        raise ValueError(f"{command.step} is not a step of a refund")
    certificate = work.certificate(command.certificate_id)
    sold_by = certificate.issue_terms.order_id if certificate.issue_terms else None
    if sold_by != command.order_id:
        raise RefundRejected("the certificate was not sold by this order")
    return step(certificate, command)
