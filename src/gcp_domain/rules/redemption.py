"""The rules of redeeming a certificate as tender, and of reversing a redemption (matching rules
2 and 4): a paymentId is decided once, a refused redemption is a recorded fact, not an error."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from gcp_domain.cause import Cause
from gcp_domain.certificate_values import RedemptionOutcome
from gcp_domain.errors import InvalidCommand, ReversalRejected, TransitionNotAllowed
from gcp_domain.money import Money
from gcp_domain.rules.checks import require_aware
from gcp_domain.vocabulary import CertificateState, RejectionReason

if TYPE_CHECKING:
    from gcp_domain.certificate import GiftCertificate

S = CertificateState


class RedemptionRules:
    """Redemptions and their reversals. Mixed into `GiftCertificate`."""

    def redeem(
        self: GiftCertificate,
        *,
        payment_id: str,
        order_id: str | None,
        amount: Money,
        at: datetime,
        cause: Cause,
    ) -> RedemptionOutcome:
        """Takes `amount` off the balance once per paymentId, or records why it did not."""
        if not payment_id:
            raise InvalidCommand("a redemption is identified by its paymentId")
        require_aware(at, "at")
        if payment_id in self.redemptions:
            return RedemptionOutcome(payment_id, True, self.balance, duplicate=True)
        if payment_id in self.rejected_payments:
            return RedemptionOutcome(payment_id, False, self.balance, duplicate=True)
        reason = self._redemption_refusal(amount, at)
        if reason is not None:
            self._reject_redemption(
                payment_id=payment_id,
                order_id=order_id,
                amount=amount.amount,
                currency=amount.currency,
                reason=reason.value,
                cause=cause,
            )
            return RedemptionOutcome(payment_id, False, self.balance, reason)
        balance_after = self.balance - amount.amount
        self._apply_redemption(
            payment_id=payment_id,
            order_id=order_id,
            amount=amount.amount,
            balance_after=balance_after,
            cause=cause,
        )
        return RedemptionOutcome(payment_id, True, balance_after)

    def reject_redemption(
        self: GiftCertificate,
        *,
        payment_id: str,
        order_id: str | None,
        amount: Money,
        reason: RejectionReason,
        cause: Cause,
    ) -> bool:
        """Records a redemption the matcher refused before it reached the balance
        (say, the order line and the payment disagree on the amount)."""
        if not payment_id:
            raise InvalidCommand("a redemption is identified by its paymentId")
        if payment_id in self.redemptions or payment_id in self.rejected_payments:
            return False
        self._reject_redemption(
            payment_id=payment_id,
            order_id=order_id,
            amount=amount.amount,
            currency=amount.currency,
            reason=RejectionReason(reason).value,
            cause=cause,
        )
        return True

    def _redemption_refusal(
        self: GiftCertificate, amount: Money, at: datetime
    ) -> RejectionReason | None:
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
        # Decision 5: EXPIRED at or after expiresAt even before the timer has run, also for a
        # certificate locked over ACTIVE (the timer would expire it; unlocking cannot help).
        working = self.working_state
        if working is S.ACTIVE and self.issue_terms and at >= self.issue_terms.expires_at:
            return RejectionReason.EXPIRED
        if self.state in by_state:
            return by_state[self.state]
        assert self.issue_terms is not None
        if amount.currency != self.issue_terms.amount.currency:
            return RejectionReason.CURRENCY_MISMATCH
        if amount.is_zero:
            return RejectionReason.INVALID_AMOUNT
        if amount.amount > self.balance:
            return RejectionReason.INSUFFICIENT_BALANCE
        return None

    def reverse_redemption(
        self: GiftCertificate,
        *,
        refund_payment_id: str,
        redemption_payment_id: str,
        amount: Money,
        cause: Cause,
    ) -> bool:
        """Returns up to what that redemption took to the balance, once per refund payment."""
        if refund_payment_id in self.reversals:
            return False
        redemption = self.redemptions.get(redemption_payment_id)
        if redemption is None:
            raise ReversalRejected("no redemption with that paymentId on this certificate")
        assert self.issue_terms is not None
        if amount.currency != self.issue_terms.amount.currency:
            raise ReversalRejected("the reversal's currency differs from the certificate's")
        if amount.is_zero:
            raise ReversalRejected("a reversal returns a positive amount")
        if amount.amount > redemption.reversible:
            raise ReversalRejected(
                f"a reversal returns at most {redemption.reversible} for that redemption"
            )
        if self.working_state not in (S.ACTIVE, S.REDEEMED):
            raise TransitionNotAllowed(f"cannot reverse a redemption on a {self.state} certificate")
        self._reverse_redemption(
            refund_payment_id=refund_payment_id,
            redemption_payment_id=redemption_payment_id,
            amount=amount.amount,
            balance_after=self.balance + amount.amount,
            cause=cause,
        )
        return True
