"""The ids of CVC notification requests: nobody can derive one from a certificateId (contract
1.1), yet GCP can name the same one again.

A notificationId is what CRM shows the CVC endpoint, so it must not be guessable from the
certificateId (which is in every stream message). It is an HMAC-SHA256 of the certificate id and
the attempt under a key of the deployment, derived from the CVC key: to anyone without that key
it is as good as random, while a batch that runs again after a crash opens the same request, and
a tool holding the key (the bench) can name the request before it reads the stream. The id is
recorded in the NotificationRequested event: audits read it there, never recompute it.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final
from uuid import UUID

import attrs

_PURPOSE: Final = b"gcp:notification-ids"


@attrs.frozen
class NotificationIds:
    key: bytes = attrs.field(repr=False)

    @classmethod
    def from_cvc_key(cls, cvc_key: str) -> NotificationIds:
        """Its own key, derived from the CVC key, so that the CVC key is used for one thing."""
        return cls(hmac.new(cvc_key.encode("utf-8"), _PURPOSE, hashlib.sha256).digest())

    def for_request(self, certificate_id: UUID, attempt: int) -> str:
        """The notificationId of the certificate's `attempt`-th notification request."""
        message = f"{certificate_id}/{attempt}".encode("ascii")
        digest = hmac.new(self.key, message, hashlib.sha256).digest()
        return str(UUID(bytes=digest[:16], version=4))
