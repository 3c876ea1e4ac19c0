"""The business operations on certificates, one use case each, whoever asks for them.

HTTP, the inbound matching, the timers, the CLI and the console build a command and hand it to
`UseCases` (gcp_app.use_cases.runner); nothing else calls a `GiftCertificate` command
(tests/unit/architecture checks it). Reserving and stocking pools, which pick or create
certificates rather than change one named by the caller, are use cases of their own here too
(gcp_app.use_cases.reserving, gcp_app.use_cases.stocking).
"""

from gcp_app.use_cases.command import CertificateCommand, Command, Context
from gcp_app.use_cases.expiring import ExpireCertificate
from gcp_app.use_cases.locking import LockCertificate, UnlockCertificate
from gcp_app.use_cases.notifying import (
    DiscloseCvc,
    RecordCvcLockout,
    RecordNotificationResult,
    RequestNotification,
)
from gcp_app.use_cases.redeeming import Redeem, RejectRedemption, ReverseRedemption
from gcp_app.use_cases.refunding import RecordRefundStep
from gcp_app.use_cases.runner import UseCases
from gcp_app.use_cases.selling import (
    CancelCertificate,
    IssueCertificate,
    ReleaseLapsedReservation,
    ReleaseReservation,
)
from gcp_app.use_cases.unit_of_work import StoreUnitOfWork, UnitOfWork

__all__ = [
    "CancelCertificate",
    "CertificateCommand",
    "Command",
    "Context",
    "DiscloseCvc",
    "ExpireCertificate",
    "IssueCertificate",
    "LockCertificate",
    "RecordCvcLockout",
    "RecordNotificationResult",
    "RecordRefundStep",
    "Redeem",
    "RejectRedemption",
    "ReleaseLapsedReservation",
    "ReleaseReservation",
    "RequestNotification",
    "ReverseRedemption",
    "StoreUnitOfWork",
    "UnitOfWork",
    "UnlockCertificate",
    "UseCases",
]
