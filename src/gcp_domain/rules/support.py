"""The rules of support and time: lock and unlock for an investigation, expiry at expiresAt."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from gcp_domain.cause import Cause
from gcp_domain.errors import InvalidCommand
from gcp_domain.rules.checks import require_aware
from gcp_domain.text import check_reason, cut, cut_identifier
from gcp_domain.vocabulary import CertificateState

if TYPE_CHECKING:
    from gcp_domain.certificate import GiftCertificate

S = CertificateState


class SupportRules:
    """Lock, unlock and expiry. Mixed into `GiftCertificate`."""

    def lock_for(
        self: GiftCertificate, *, reason: str, by: str, at: datetime, cause: Cause
    ) -> bool:
        """Support locks an issued certificate for investigation. Idempotent."""
        if self.state is S.LOCKED:
            return False
        if not reason or not reason.strip():
            raise InvalidCommand("a lock needs a reason")
        check_reason(reason, "a lock's reason")
        self._require(S.ACTIVE, S.REDEEMED, action="lock")
        require_aware(at, "at")
        self._lock(reason=cut(reason), locked_by=cut_identifier(by), locked_at=at, cause=cause)
        return True

    def unlock(self: GiftCertificate, *, reason: str | None, by: str, cause: Cause) -> bool:
        """Back to the previous working state. Idempotent: an unlocked certificate stays as is."""
        if self.state is not S.LOCKED:
            return False
        if reason:
            check_reason(reason, "an unlock's reason")
        self._unlock(reason=cut(reason), unlocked_by=cut_identifier(by), cause=cause)
        return True

    def expire(self: GiftCertificate, *, at: datetime, cause: Cause) -> bool:
        """EXPIRED once `expiresAt` has passed. Returns False if not due or already final."""
        require_aware(at, "at")
        if self.issue_terms is None or at < self.issue_terms.expires_at:
            return False
        # A locked certificate expires only if it was locked while ACTIVE: a fully redeemed
        # one does not expire, locked or not.
        if self.state not in (S.ACTIVE, S.LOCKED) or self.working_state is not S.ACTIVE:
            return False
        self._expire(cause=cause)
        return True
