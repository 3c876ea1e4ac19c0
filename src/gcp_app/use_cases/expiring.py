"""A certificate past its expiresAt expires (the expiry timer)."""

from __future__ import annotations

import attrs

from gcp_app.use_cases.command import CertificateCommand, Context
from gcp_app.use_cases.unit_of_work import UnitOfWork


@attrs.frozen(kw_only=True)
class ExpireCertificate(CertificateCommand[bool]):
    """EXPIRED if expiresAt has passed on the clock and the rules allow it (ACTIVE, or LOCKED
    over ACTIVE). False otherwise: not due yet, fully redeemed, or final already."""


def expire_certificate(context: Context, work: UnitOfWork, command: ExpireCertificate) -> bool:
    return work.certificate(command.certificate_id).expire(
        at=context.clock.now(), cause=command.cause
    )
