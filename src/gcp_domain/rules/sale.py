"""The rules of selling a certificate: reserve it for a channel, release it, issue it for a paid
order, cancel it when the sale is voided (CONTRACTS.md, matching rule 1)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from gcp_domain.cause import Cause
from gcp_domain.certificate_values import Recipient
from gcp_domain.errors import InvalidCommand, TransitionNotAllowed
from gcp_domain.money import Money
from gcp_domain.rules.checks import require_aware
from gcp_domain.text import cut
from gcp_domain.vocabulary import CertificateState, NotificationChannel

if TYPE_CHECKING:
    from gcp_domain.certificate import GiftCertificate

S = CertificateState


class SaleRules:
    """Reserve, release, issue and cancel. Mixed into `GiftCertificate`."""

    def reserve(
        self: GiftCertificate,
        *,
        by: str,
        until: datetime,
        idempotency_key: str | None,
        order_id: str | None,
        cause: Cause,
    ) -> None:
        self._require(S.AVAILABLE, action="reserve")
        require_aware(until, "reservedUntil")
        self._reserve(
            reserved_by=by,
            reserved_until=until,
            idempotency_key=idempotency_key,
            order_id=order_id,
            cause=cause,
        )

    def release_reservation(self: GiftCertificate, *, reason: str, cause: Cause) -> bool:
        """Back to the pool. Returns False (and records nothing) if it is not reserved."""
        if self.state is not S.RESERVED:
            if self.state in (S.AVAILABLE,):
                return False
            raise TransitionNotAllowed(f"cannot release a certificate in {self.state}")
        self._release_reservation(reason=cut(reason), cause=cause)
        return True

    def issue(
        self: GiftCertificate,
        *,
        amount: Money,
        channel: str,
        order_id: str,
        payment_ids: list[str],
        client_id: str | None,
        recipient: Recipient,
        notification_channel: NotificationChannel,
        issued_at: datetime,
        expires_at: datetime,
        cause: Cause,
    ) -> bool:
        """Issue for a paid sale order. Returns False if this order already issued it.

        A reservation that lapsed before the order arrived does not stop the issue: the channel
        has already handed the number out, so an AVAILABLE certificate is issued too. A
        certificate reserved for another order is not.
        """
        if self.issue_terms is not None:
            if self.issue_terms.order_id == order_id:
                return False
            raise TransitionNotAllowed("the certificate was issued by another order")
        self._require(S.RESERVED, S.AVAILABLE, action="issue")
        reserved_for = self.reservation.order_id if self.reservation else None
        if reserved_for is not None and reserved_for != order_id:
            raise TransitionNotAllowed("the certificate is reserved for another order")
        if amount.is_zero:
            raise InvalidCommand("a certificate is issued for a positive amount")
        if not order_id:
            raise InvalidCommand("an issue needs the sale order's id")
        require_aware(issued_at, "issuedAt")
        require_aware(expires_at, "expiresAt")
        if expires_at <= issued_at:
            raise InvalidCommand("expiresAt must be after issuedAt")
        self._issue(
            amount=amount.amount,
            currency=amount.currency,
            channel=channel,
            order_id=order_id,
            payment_ids=list(payment_ids),
            client_id=client_id,
            recipient=recipient.as_dict(),
            notification_channel=NotificationChannel(notification_channel).value,
            issued_at=issued_at,
            expires_at=expires_at,
            cause=cause,
        )
        return True

    def cancel(self: GiftCertificate, *, reason: str, cause: Cause) -> bool:
        """Cancels an issued certificate before any redemption (its sale was voided), or voids
        a pool certificate that must never be handed out. Idempotent."""
        if self.state is S.CANCELLED:
            return False
        if self.state is S.RESERVED:
            raise TransitionNotAllowed("a reserved certificate is released, not cancelled")
        if self.working_state not in (S.AVAILABLE, S.ACTIVE) or self.state is S.REFUND_PENDING:
            raise TransitionNotAllowed(f"cannot cancel a certificate in {self.state}")
        if self.redemptions:
            raise TransitionNotAllowed("a certificate with redemptions cannot be cancelled")
        self._cancel(reason=cut(reason), cause=cause)
        return True
