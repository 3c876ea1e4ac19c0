"""What the HTTP API reads and writes: msgspec structs with camelCase names on the wire.

msgspec (Litestar's own serialiser) renames fields to camelCase for both the JSON and the
OpenAPI document, so Python keeps snake_case and the document matches the bodies exactly.
Money is a string with the currency's minor digits, timestamps RFC 3339 UTC strings.

`CertificateObject` describes the stream-shaped state object for the OpenAPI document; the
handlers return the application's own dict (the same object the stream carries), and a test
checks that both name the same fields.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import attrs
from msgspec import Meta, Struct

from gcp_app.application import PoolStatus

Timestamp = Annotated[str, Meta(description="RFC 3339 in UTC with a Z suffix")]
MoneyString = Annotated[
    str, Meta(pattern=r"^\d+(\.\d+)?$", description="exact decimal with the minor digits")
]
Reason = Annotated[str, Meta(min_length=1, max_length=1000)]
MAX_GENERATE: Final = 100_000
MAX_LOW_WATERMARK: Final = 1_000_000


class Camel(Struct, rename="camel", forbid_unknown_fields=False):
    pass


# ---------------------------------------------------------------------- requests


class NotificationResultIn(Camel):
    result: Literal["SENT", "FAILED"]
    error: str | None = None


class LockIn(Camel):
    reason: Reason


class UnlockIn(Camel):
    reason: Reason | None = None


class GenerateIn(Camel):
    count: Annotated[int, Meta(ge=1, le=MAX_GENERATE)]
    # Only for a pool this call creates (default GCP_POOL_LOW_WATERMARK); an existing pool
    # keeps its own. gt=-1, not ge=0: Litestar 2.25 leaves a falsy bound (0) out of the
    # OpenAPI schema of an optional field.
    low_watermark: Annotated[int, Meta(gt=-1, le=MAX_LOW_WATERMARK)] | None = None


# ---------------------------------------------------------------------- responses


class ReservationOut(Camel):
    certificate_id: str
    number: str
    pool: str
    reserved_until: Timestamp


class CvcOut(Camel):
    certificate_id: str
    notification_id: str
    cvc: str


class PoolLevelsOut(Camel):
    pool: str
    available: int
    reserved: int
    issued: int
    cancelled: int
    low_watermark: int

    @classmethod
    def of(cls, status: PoolStatus) -> PoolLevelsOut:
        return cls(**attrs.asdict(status))


class GeneratedOut(Camel):
    pool: str
    created: int
    levels: PoolLevelsOut


class HistoryEntryOut(Camel):
    version: int
    event: str
    at: Timestamp
    actor: str
    causation_id: str
    correlation_id: str
    details: dict[str, object]


class LiveOut(Camel):
    status: Literal["ok"]


class ReadyOut(Camel, omit_defaults=True):
    status: Literal["ok", "unavailable"]
    checks: dict[str, Literal["ok", "failing"]]
    # Why a check fails, where the check can say it safely (the relay, the consumer).
    reasons: dict[str, str] | None = None


# ---------------------------------------------------------------------- the state object


class RecipientOut(Camel):
    name: str | None
    email: str | None
    phone: str | None


class ReservationHeld(Camel):
    by: str
    until: Timestamp
    order_id: str | None


class NotificationOut(Camel):
    notification_id: str
    channel: Literal["EMAIL", "SMS"]
    status: Literal["REQUESTED", "SENT", "FAILED"]
    attempt: int
    error: str | None


class LockOut(Camel):
    reason: str
    by: str
    at: Timestamp


class RefundOut(Camel):
    status: Literal["PENDING", "PENDING_DETAILS", "COMPLETED", "FAILED"]
    payment_id: str
    amount: MoneyString | None


class OperationOut(Camel):
    type: Literal["ISSUE", "REDEMPTION", "REDEMPTION_ATTEMPT", "REDEMPTION_REVERSAL", "REFUND"]
    order_id: str | None
    payment_id: str | None
    amount: MoneyString | None


class AuditOut(Camel):
    created_at: Timestamp
    updated_at: Timestamp
    updated_by: str
    causation_id: str
    correlation_id: str


class CertificateObject(Camel):
    """The certificate's latest publication on GiftCertificates.Stream (`status: CREATED` for
    a certificate never published yet)."""

    schema_version: int
    event_id: str
    status: str
    occurred_at: Timestamp
    certificate_id: str
    number: str
    masked_number: str
    pool: str
    state: str
    redeemable: bool
    channel: str | None
    order_id: str | None
    client_id: str | None
    amount: MoneyString | None
    currency: str | None
    remaining_balance: MoneyString | None
    issued_at: Timestamp | None
    expires_at: Timestamp | None
    recipient: RecipientOut | None
    reservation: ReservationHeld | None
    notification: NotificationOut | None
    lock: LockOut | None
    refund: RefundOut | None
    operation: OperationOut | None
    reason: str | None
    version: int
    audit: AuditOut
