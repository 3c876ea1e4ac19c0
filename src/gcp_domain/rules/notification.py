"""The rules of the CVC notification: CRM is asked to deliver the CVC, fetches it once per
request, and reports the delivery (matching rule 5); failed CVC requests are recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gcp_domain.cause import Cause
from gcp_domain.errors import (
    CvcAlreadyDisclosed,
    CvcNotAvailable,
    InvalidCommand,
    TransitionNotAllowed,
)
from gcp_domain.text import cut
from gcp_domain.vocabulary import CertificateState, NotificationChannel, NotificationStatus

if TYPE_CHECKING:
    from gcp_domain.certificate import GiftCertificate

S = CertificateState


class NotificationRules:
    """The CVC notification and the CVC. Mixed into `GiftCertificate`."""

    def request_notification(
        self: GiftCertificate,
        *,
        notification_id: str,
        channel: NotificationChannel | None = None,
        cause: Cause,
    ) -> bool:
        """Ask CRM to deliver the CVC. Returns False if this notificationId was requested already
        (the open request, or an earlier one: a late redelivery must not open it, and so hand
        out its CVC, again).

        A new request is allowed once the previous one has a result (a failed delivery is tried
        again with a new notificationId; a delivered one may be re-sent on the customer's asking).
        A certificate issued with channel NONE gets no request (decision 9), whatever it names.
        """
        if self.notification and self.notification.notification_id == notification_id:
            return False
        if notification_id in self.notification_results:
            return False
        self._require(S.ACTIVE, action="request a notification for")
        assert self.issue_terms is not None
        if self.issue_terms.notification_channel is NotificationChannel.NONE:
            raise InvalidCommand("the certificate was issued with notification channel NONE")
        channel = NotificationChannel(channel or self.issue_terms.notification_channel)
        if channel is NotificationChannel.NONE:
            raise InvalidCommand("a notification request needs a channel")
        if self.notification and self.notification.status is NotificationStatus.REQUESTED:
            raise TransitionNotAllowed("a notification request is still open")
        attempt = self.notification.attempt + 1 if self.notification else 1
        self._request_notification(
            notification_id=notification_id, channel=channel.value, attempt=attempt, cause=cause
        )
        return True

    def disclose_cvc(self: GiftCertificate, *, notification_id: str, cause: Cause) -> str:
        """Hands out the sealed CVC once, for the open notification request it names.

        Unknown, closed and mismatching requests all raise the same `CvcNotAvailable`, so the
        answer never tells a caller more than "no".
        """
        note = self.notification
        if note is None or note.notification_id != notification_id:
            raise CvcNotAvailable("no open notification request with that id")
        if note.cvc_disclosed:
            raise CvcAlreadyDisclosed("the CVC of this notification request was disclosed")
        if self.state is not S.ACTIVE or note.status is not NotificationStatus.REQUESTED:
            raise CvcNotAvailable("no open notification request with that id")
        self._disclose_cvc(notification_id=notification_id, cause=cause)
        return self.sealed_cvc

    def record_cvc_lockout(
        self: GiftCertificate, *, attempts: int, window_seconds: int, cause: Cause
    ) -> None:
        """Records that the CVC endpoint locked this certificate out after `attempts` failed
        requests within `window_seconds`. The throttling itself is the application's (it knows
        time and callers); the fact belongs to the certificate's history, in any state."""
        if attempts < 1:
            raise InvalidCommand("a lock-out follows at least one failed attempt")
        if window_seconds < 1:
            raise InvalidCommand("a lock-out window is at least one second")
        self._record_cvc_lockout(attempts=attempts, window_seconds=window_seconds, cause=cause)

    def record_notification_result(
        self: GiftCertificate, *, notification_id: str, sent: bool, error: str | None, cause: Cause
    ) -> bool:
        """CRM's delivery result. Returns False for a repeat of the result already recorded,
        also for an earlier request's (a late redelivery after a new request was opened)."""
        wanted = NotificationStatus.SENT if sent else NotificationStatus.FAILED
        recorded = self.notification_results.get(notification_id)
        if recorded is wanted:
            return False
        if recorded is not None:
            raise TransitionNotAllowed(f"the notification was already recorded as {recorded}")
        note = self.notification
        if note is None or note.notification_id != notification_id:
            raise InvalidCommand("no notification request with that id")
        if sent:
            self._notification_sent(notification_id=notification_id, cause=cause)
        else:
            self._notification_failed(
                notification_id=notification_id, error=cut(error), cause=cause
            )
        return True
