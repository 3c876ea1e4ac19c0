"""The rules of refunding a certificate's purchase (matching rule 3): pending, waiting for the
buyer's details, completed (final) or failed (back to ACTIVE), in whatever order they arrive.

Contract 1.1: "The steps of one refund may arrive as messages of one paymentId, or as separate
payments, each with its own paymentId, that name the sale's payment in `refundOf`". So a step
names its own `payment_id` and, optionally, `refund_of`; the refund it belongs to is
`refund_of or payment_id` (`Refund.key`). A redelivery of a step is told by its own paymentId.
"""

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

    def _of_this_refund(self: GiftCertificate, payment_id: str, refund_of: str | None) -> bool:
        """The step belongs to the certificate's latest refund: the same paymentId, or the
        same sale payment named in refundOf."""
        return self.refund is not None and self.refund.has_step(payment_id, refund_of)

    def _refund_completed_already(
        self: GiftCertificate, payment_id: str, refund_of: str | None
    ) -> bool:
        return self.state is S.REFUNDED and self._of_this_refund(payment_id, refund_of)

    def _check_refund(
        self: GiftCertificate, payment_id: str, refund_of: str | None, amount: Decimal | None
    ) -> None:
        if not payment_id:
            raise InvalidCommand("a refund is identified by its paymentId")
        if self.state is S.REFUND_PENDING and not self._of_this_refund(payment_id, refund_of):
            raise RefundRejected("another refund is pending on this certificate")
        self._require(S.ACTIVE, S.REFUND_PENDING, action="refund")
        if amount is not None and amount > self.balance:
            raise RefundRejected("a refund larger than the remaining balance is rejected")

    def start_refund(
        self: GiftCertificate,
        *,
        payment_id: str,
        amount: Money | None,
        refund_of: str | None = None,
        cause: Cause,
    ) -> bool:
        """REFUND_PENDING: not redeemable until the refund completes or fails.

        Returns False for the pending refund again, and for a refund that has already failed
        or completed: a late redelivery must not reopen it."""
        if payment_id in self.decided_refunds:
            return False
        if self._refund_completed_already(payment_id, refund_of):
            return False
        if self.state is S.REFUND_PENDING and self._of_this_refund(payment_id, refund_of):
            return False
        known = self._refund_amount(amount)
        self._check_refund(payment_id, refund_of, known)
        self._refund_pending(payment_id=payment_id, amount=known, refund_of=refund_of, cause=cause)
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
        self: GiftCertificate,
        *,
        payment_id: str,
        amount: Money | None = None,
        refund_of: str | None = None,
        cause: Cause,
    ) -> bool:
        """REFUND_PENDING_DETAILS: the refund waits for the buyer's payment details. It may
        arrive before the refund's REFUND_PENDING; the amount is then taken from here."""
        if payment_id in self.decided_refunds:
            return False
        if self._refund_completed_already(payment_id, refund_of):
            return False
        if (
            self._of_this_refund(payment_id, refund_of)
            and self.refund is not None
            and self.refund.status is RefundStatus.PENDING_DETAILS
        ):
            return False
        known = self._refund_amount(amount)
        self._check_refund(payment_id, refund_of, known)
        self._refund_pending_details(
            payment_id=payment_id, amount=known, refund_of=refund_of, cause=cause
        )
        return True

    def complete_refund(
        self: GiftCertificate,
        *,
        payment_id: str,
        amount: Money,
        refund_of: str | None = None,
        cause: Cause,
    ) -> bool:
        """REFUNDED: the money went back to the buyer; the balance is 0 and the state final."""
        if self._refund_completed_already(payment_id, refund_of):
            return False
        if amount.is_zero:
            raise RefundRejected("a refund returns a positive amount")
        known = self._refund_amount(amount)
        self._check_refund(payment_id, refund_of, known)
        self._refund_completed(
            payment_id=payment_id, amount=amount.amount, refund_of=refund_of, cause=cause
        )
        return True

    def fail_refund(
        self: GiftCertificate,
        *,
        payment_id: str,
        reason: str | None,
        amount: Money | None = None,
        refund_of: str | None = None,
        cause: Cause,
    ) -> bool:
        """The refund did not happen: back to the working state (ACTIVE).

        A failure that arrives before its refund was seen pending is recorded all the same
        (on an ACTIVE certificate), so that the pending, arriving later, records nothing."""
        if payment_id in self.decided_refunds or self._refund_completed_already(
            payment_id, refund_of
        ):
            if self._refund_completed_already(payment_id, refund_of):
                raise TransitionNotAllowed("the refund has completed")
            return False
        if self.state is S.REFUND_PENDING:
            if not self._of_this_refund(payment_id, refund_of):
                raise RefundRejected("that is not a step of the pending refund")
        else:
            self._require(S.ACTIVE, S.REFUND_PENDING, action="fail the refund of")
        known = self._refund_amount(amount) if amount is not None else None
        self._refund_failed(
            payment_id=payment_id,
            reason=cut(reason),
            amount=known,
            refund_of=refund_of,
            cause=cause,
        )
        return True
