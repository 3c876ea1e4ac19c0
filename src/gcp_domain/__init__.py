"""GCP's domain: gift certificates as event-sourced aggregates, and their stream objects.

Imports only the standard library, attrs and `eventsourcing.domain`; no I/O.
"""

from gcp_domain.cause import Cause
from gcp_domain.certificate import GiftCertificate
from gcp_domain.certificate_values import Recipient, RedemptionOutcome
from gcp_domain.claims import NumberClaim, ReservationKey
from gcp_domain.errors import DomainError
from gcp_domain.money import Money
from gcp_domain.numbers import CertificateNumber
from gcp_domain.pool import CertificatePool
from gcp_domain.stream import Publication, publication
from gcp_domain.vocabulary import (
    CertificateState,
    NotificationChannel,
    NotificationStatus,
    RefundStatus,
    RejectionReason,
)

__all__ = [
    "Cause",
    "CertificateNumber",
    "CertificatePool",
    "CertificateState",
    "DomainError",
    "GiftCertificate",
    "Money",
    "NotificationChannel",
    "NotificationStatus",
    "NumberClaim",
    "Publication",
    "Recipient",
    "RedemptionOutcome",
    "RefundStatus",
    "RejectionReason",
    "ReservationKey",
    "publication",
]
