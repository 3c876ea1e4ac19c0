"""Support locks a certificate for an investigation and unlocks it (HTTP, the console)."""

from __future__ import annotations

import attrs

from gcp_app.use_cases.command import CertificateCommand, Context
from gcp_app.use_cases.unit_of_work import UnitOfWork


@attrs.frozen(kw_only=True)
class LockCertificate(CertificateCommand[bool]):
    """LOCKED, `by` the support agent, for `reason`. False if it was locked already."""

    reason: str
    by: str


def lock_certificate(context: Context, work: UnitOfWork, command: LockCertificate) -> bool:
    return work.certificate(command.certificate_id).lock_for(
        reason=command.reason, by=command.by, at=context.clock.now(), cause=command.cause
    )


@attrs.frozen(kw_only=True)
class UnlockCertificate(CertificateCommand[bool]):
    """Back to the working state before the lock. False if it was not locked."""

    reason: str | None
    by: str


def unlock_certificate(context: Context, work: UnitOfWork, command: UnlockCertificate) -> bool:
    return work.certificate(command.certificate_id).unlock(
        reason=command.reason, by=command.by, cause=command.cause
    )
