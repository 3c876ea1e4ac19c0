"""What GCP owes on a certificate: its balance while it can still be spent or refunded.

Owed while its working state (under a lock, the state the lock keeps) is ACTIVE or
REFUND_PENDING; nothing before issue or once redeemed, refunded, expired or cancelled. BI's
liability model (int_certificate_liability) applies the same rule to the stream, and the
reconciliation compares the two.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from gcp_domain.certificate import GiftCertificate
from gcp_domain.vocabulary import CertificateState

OWING: Final = frozenset({CertificateState.ACTIVE, CertificateState.REFUND_PENDING})


def owed(certificate: GiftCertificate) -> Decimal:
    if certificate.issue_terms is None or certificate.working_state not in OWING:
        return Decimal(0)
    return certificate.balance
