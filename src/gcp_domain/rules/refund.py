"""The rules of refunding a certificate's purchase (matching rule 3): pending, waiting for the
buyer's details, completed (final) or failed (back to ACTIVE), in whatever order they arrive."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from gcp_domain.cause import Cause
from gcp_domain.errors import InvalidCommand, RefundRejected, TransitionNotAllowed
from gcp_domain.money import Money
from gcp_domain.text import cut
from gcp_domain.vocabulary import CertificateState, RefundStatus

if TYPE_CHECKING:
    from gcp_domain.certificate import GiftCertificate

S = CertificateState


class RefundRules:
    """The refund of the certificate's purchase. Mixed into `GiftCertificate`."""

    def _check_refund(self: GiftCertificate, payment_id: str, amount: Decimal | None) -> None:
        if not payment_id:
            raise InvalidCommand("a refund is identified by its paymentId")
        if self.refund and self.refund.payment_id != payment_id and self.state is S.REFUND_PENDING:
            raise RefundRejected("another refund is pending on this certificate")
        self._require(S.ACTIVE, S.REFUND_PENDING, action="refund")
        if amount is not None and amount > self.balance:
            raise RefundRejected("a refund larger than the remaining balance is rejected")

    def start_refund(
        self: GiftCertificate, *, payment_id: str, amount: Money | None, cause: Cause
    ) -> bool:
        """REFUND_PENDING: not redeemable until the refund completes or fails.

        Returns False for the pending refund again, and for a refund that has already failed
        or completed: a late redelivery must not reopen it."""
        if payment_id in self.decided_refunds:
            return False
        if self.refund and self.refund.payment_id == payment_id and self.state is S.REFUND_PENDING:
            return False
        self._check_refund(payment_id, self._refund_amount(amount))
        self._refund_pending(payment_id=payment_id, amount=self._refund_amount(amount), cause=cause)
        return True

    def _refund_amount(self: GiftCertificate, amount: Money | None) -> Decimal | None:
        if amount is None:
            return None
        if self.issue_terms is None:
            # Checked before `_check_refund`, so a not-yet-issued certificate must refuse here.
            raise TransitionNotAllowed(f"cannot refund a certificate in {self.state}")
        if amount.currency != self.issue_terms.amount.currency:
            raise RefundRejected("the refund's currency differs from the certificate's")
        return amount.amount

    def refund_needs_details(
        self: GiftCertificate, *, payment_id: str, amount: Money | None = None, cause: Cause
    ) -> bool:
        """REFUND_PENDING_DETAILS: the refund waits for the buyer's payment details. It may
        arrive before the refund's REFUND_PENDING; the amount is then taken from here."""
        if payment_id in self.decided_refunds:
            return False
        if (
            self.refund
            and self.refund.payment_id == payment_id
            and self.refund.status is RefundStatus.PENDING_DETAILS
        ):
            return False
        known = self._refund_amount(amount)
        self._check_refund(payment_id, known)
        self._refund_pending_details(payment_id=payment_id, amount=known, cause=cause)
        return True

    def complete_refund(
        self: GiftCertificate, *, payment_id: str, amount: Money, cause: Cause
    ) -> bool:
        """REFUNDED: the money went back to the buyer; the balance is 0 and the state final."""
        if self.state is S.REFUNDED and self.refund and self.refund.payment_id == payment_id:
            return False
        if amount.is_zero:
            raise RefundRejected("a refund returns a positive amount")
        self._check_refund(payment_id, self._refund_amount(amount))
        self._refund_completed(payment_id=payment_id, amount=amount.amount, cause=cause)
        return True

    def fail_refund(
        self: GiftCertificate,
        *,
        payment_id: str,
        reason: str | None,
        amount: Money | None = None,
        cause: Cause,
    ) -> bool:
        """The refund did not happen: back to the working state (ACTIVE).

        A failure that arrives before its refund was seen pending is recorded all the same
        (on an ACTIVE certificate), so that the pending, arriving later, records nothing."""
        if payment_id in self.decided_refunds:
            if self.state is S.REFUNDED and self.refund and self.refund.payment_id == payment_id:
                raise TransitionNotAllowed("the refund has completed")
            return False
        if self.state is S.REFUND_PENDING:
            if self.refund is None or self.refund.payment_id != payment_id:
                raise RefundRejected("that is not the pending refund's paymentId")
        else:
            self._require(S.ACTIVE, S.REFUND_PENDING, action="fail the refund of")
        known = self._refund_amount(amount) if amount is not None else None
        self._refund_failed(payment_id=payment_id, reason=cut(reason), amount=known, cause=cause)
        return True
