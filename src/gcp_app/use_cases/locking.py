"""Support locks a certificate for an investigation and unlocks it (HTTP, the console)."""

from __future__ import annotations

from uuid import UUID

import attrs

from gcp_app.use_cases.command import Command, Context
from gcp_app.use_cases.unit_of_work import UnitOfWork
from gcp_domain.cause import Cause


@attrs.frozen(kw_only=True)
class LockCertificate(Command[bool]):
    """LOCKED, `by` the support agent, for `reason`. False if it was locked already."""

    certificate_id: UUID
    reason: str
    by: str
    cause: Cause


def lock_certificate(context: Context, work: UnitOfWork, command: LockCertificate) -> bool:
    return work.certificate(command.certificate_id).lock_for(
        reason=command.reason, by=command.by, at=context.clock.now(), cause=command.cause
    )


@attrs.frozen(kw_only=True)
class UnlockCertificate(Command[bool]):
    """Back to the working state before the lock. False if it was not locked."""

    certificate_id: UUID
    reason: str | None
    by: str
    cause: Cause


def unlock_certificate(context: Context, work: UnitOfWork, command: UnlockCertificate) -> bool:
    return work.certificate(command.certificate_id).unlock(
        reason=command.reason, by=command.by, cause=command.cause
    )
