"""Handing out the CVC: once per notification request, throttled, unsealed only here.

The use case (gcp_app.use_cases.notifying.DiscloseCvc) records the disclosure and answers the
sealed CVC. Around it: the throttle (gcp_app.cvc_guard) is asked first, a refused request is
counted against its caller, and the failure that locks a caller out is recorded on the
certificate it named (`CvcLockedOut`).
"""

from __future__ import annotations

import logging
from uuid import UUID

import attrs

from gcp_app.cvc_guard import CvcGuard
from gcp_app.errors import CertificateNotFound
from gcp_app.sealing import CvcSealer
from gcp_app.use_cases import DiscloseCvc, RecordCvcLockout, UseCases
from gcp_domain.cause import Cause
from gcp_domain.errors import CvcNotAvailable, DomainError

logger = logging.getLogger("gcp.app")


@attrs.define(eq=False)
class CvcDesk:
    _use_cases: UseCases
    guard: CvcGuard
    _sealer: CvcSealer

    def disclose(
        self,
        certificate_id: UUID,
        *,
        notification_id: str,
        cause: Cause,
        client: str | None = None,
    ) -> str:
        """The plain CVC, once per notification request. The caller must not log it.

        Throttled (`gcp_app.cvc_guard`): a failed request (`CertificateNotFound`,
        `CvcNotAvailable`) counts against the caller (`client`, by default the cause's actor),
        never the certificate; while the caller is locked out its requests are refused with
        `CvcThrottled`. The counts are in the store, shared by every application on it. The
        failure that locks a caller out records `CvcLockedOut` on the certificate it named (if
        that exists), once per lock-out across all of them. `CvcAlreadyDisclosed` is no
        failure: only a caller with the right notificationId gets it.
        """
        who = client or cause.actor
        self.guard.check(who)
        try:
            sealed = self._use_cases.execute(
                DiscloseCvc(
                    certificate_id=certificate_id, notification_id=notification_id, cause=cause
                )
            )
        except (CertificateNotFound, CvcNotAvailable) as refused:
            locked_out = self.guard.failed(who, cause=cause)
            if locked_out and not isinstance(refused, CertificateNotFound):
                self._locked_out(certificate_id, cause)
            raise
        return self._sealer.unseal(sealed)

    def _locked_out(self, certificate_id: UUID, cause: Cause) -> None:
        policy = self.guard.policy
        logger.warning(
            "CVC requests of %s locked out for %d s after %d failures (the last for %s)",
            cause.actor,
            policy.window_seconds,
            policy.max_failures,
            certificate_id,
        )
        try:
            self._use_cases.execute(
                RecordCvcLockout(
                    certificate_id=certificate_id,
                    attempts=policy.max_failures,
                    window_seconds=policy.window_seconds,
                    cause=cause,
                )
            )
        except DomainError as error:
            # The lock-out holds anyway; the caller's answer stays the same "not found".
            logger.warning(
                "could not record the CVC lock-out of %s: %s", certificate_id, error.code
            )
