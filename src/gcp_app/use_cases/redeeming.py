"""Redeeming a certificate as tender, and reversing a redemption (CONTRACTS.md rules 2 and 4).
Asked for by the inbound matching; the till's holds will come here too."""

from __future__ import annotations

import attrs

from gcp_app.use_cases.command import CertificateCommand, Context
from gcp_app.use_cases.unit_of_work import UnitOfWork
from gcp_domain.certificate_values import RedemptionOutcome
from gcp_domain.money import Money
from gcp_domain.vocabulary import RejectionReason


@attrs.frozen(kw_only=True)
class Redeem(CertificateCommand[RedemptionOutcome]):
    """Take `amount` off the balance, once per paymentId; a redemption the rules refuse is
    recorded as REDEMPTION_REJECTED with its reason (an outcome, not an error)."""

    payment_id: str
    order_id: str | None
    amount: Money


def redeem(context: Context, work: UnitOfWork, command: Redeem) -> RedemptionOutcome:
    return work.certificate(command.certificate_id).redeem(
        payment_id=command.payment_id,
        order_id=command.order_id,
        amount=command.amount,
        at=context.clock.now(),
        cause=command.cause,
    )


@attrs.frozen(kw_only=True)
class RejectRedemption(CertificateCommand[bool]):
    """Record a redemption refused before it reached the balance (the order line and the
    payment disagree on the amount: AMOUNT_MISMATCH)."""

    payment_id: str
    order_id: str | None
    amount: Money
    reason: RejectionReason


def reject_redemption(context: Context, work: UnitOfWork, command: RejectRedemption) -> bool:
    return work.certificate(command.certificate_id).reject_redemption(
        payment_id=command.payment_id,
        order_id=command.order_id,
        amount=command.amount,
        reason=command.reason,
        cause=command.cause,
    )


@attrs.frozen(kw_only=True)
class ReverseRedemption(CertificateCommand[bool]):
    """Return up to what a redemption took to the balance, once per refund paymentId."""

    refund_payment_id: str
    redemption_payment_id: str
    amount: Money


def reverse_redemption(context: Context, work: UnitOfWork, command: ReverseRedemption) -> bool:
    return work.certificate(command.certificate_id).reverse_redemption(
        refund_payment_id=command.refund_payment_id,
        redemption_payment_id=command.redemption_payment_id,
        amount=command.amount,
        cause=command.cause,
    )
