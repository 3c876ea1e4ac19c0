"""docs/contracts/gift-certificate.schema.json: valid, and says yes and no where it should."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from tests.schemas import contract_validator

from gcp_domain import (
    Cause,
    CertificateNumber,
    CertificatePool,
    GiftCertificate,
    Money,
    NotificationChannel,
    Recipient,
    publication,
)
from gcp_domain.stream import STATUSES
from gcp_domain.vocabulary import CertificateState

VALIDATOR = contract_validator("gift-certificate.schema.json")
SCHEMA: dict[str, Any] = VALIDATOR.schema

CERTIFICATE_ID = "3f1c0a52-8d7e-4c2b-9a41-0b6f2d9e7c10"

PARTIALLY_REDEEMED: dict[str, Any] = {
    "schemaVersion": 1,
    "eventId": "5a0e6a3c-1f9b-5d2e-8c47-2b3d4e5f6a7b",
    "status": "PARTIALLY_REDEEMED",
    "occurredAt": "2026-12-01T12:00:00.000Z",
    "certificateId": CERTIFICATE_ID,
    "number": "4000123412344821",
    "maskedNumber": "**** **** **** 4821",
    "pool": "default",
    "state": "ACTIVE",
    "redeemable": True,
    "channel": "WEB",
    "orderId": "WEB-100045",
    "clientId": "C-1",
    "amount": "5000.00",
    "currency": "RUB",
    "remainingBalance": "3500.00",
    "issuedAt": "2026-11-26T10:00:02.000Z",
    "expiresAt": "2027-11-26T10:00:02.000Z",
    "recipient": {"name": "Anna", "email": "anna@example.com", "phone": None},
    "reservation": None,
    "notification": {
        "notificationId": "N-1",
        "channel": "EMAIL",
        "status": "SENT",
        "attempt": 1,
        "error": None,
    },
    "lock": None,
    "refund": None,
    "operation": {
        "type": "REDEMPTION",
        "orderId": "POS-9",
        "paymentId": "PAY-80",
        "amount": "1500.00",
    },
    "reason": None,
    "version": 7,
    "audit": {
        "createdAt": "2026-11-01T09:00:00.000Z",
        "updatedAt": "2026-12-01T12:00:00.000Z",
        "updatedBy": "kafka:All_Payments",
        "causationId": "0c1e0000-msg",
        "correlationId": "POS-9",
    },
}

RESERVED: dict[str, Any] = {
    **dict.fromkeys(PARTIALLY_REDEEMED),
    "schemaVersion": 1,
    "eventId": "6b1f7b4d-2a0c-5e3f-9d58-3c4e5f6a7b8c",
    "status": "RESERVED",
    "occurredAt": "2026-11-26T09:59:00Z",
    "certificateId": CERTIFICATE_ID,
    "number": "4000123412344821",
    "maskedNumber": "**** **** **** 4821",
    "pool": "default",
    "state": "RESERVED",
    "redeemable": False,
    "reservation": {"by": "web-shop", "until": "2026-11-26T10:29:00Z", "orderId": None},
    "version": 2,
    "audit": PARTIALLY_REDEEMED["audit"],
}

ISSUE_BLOCKED: dict[str, Any] = {
    **dict.fromkeys(PARTIALLY_REDEEMED),
    "schemaVersion": 1,
    "eventId": "7c2a8c5e-3b1d-5f40-8e69-4d5e6f7a8b9c",
    "status": "ISSUE_BLOCKED",
    "occurredAt": "2026-11-26T10:00:00Z",
    "pool": "default",
    "redeemable": False,
    "reason": "POOL_EXHAUSTED",
    "version": 3,
    "audit": PARTIALLY_REDEEMED["audit"],
}

POOL_LOW: dict[str, Any] = {
    **ISSUE_BLOCKED,
    "status": "POOL_LOW",
    "reason": "BELOW_LOW_WATERMARK",
    "available": 99,
    "lowWatermark": 100,
}

LOCKED: dict[str, Any] = {
    **PARTIALLY_REDEEMED,
    "status": "LOCKED",
    "state": "LOCKED",
    "redeemable": False,
    "lock": {"reason": "fraud check", "by": "support:ivan", "at": "2026-12-02T08:00:00Z"},
    "operation": None,
    "reason": "fraud check",
    "version": 8,
}


def errors_of(instance: object) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(instance)]


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_status_and_state_enums_are_the_domain_s() -> None:
    assert SCHEMA["properties"]["status"]["enum"] == list(STATUSES)
    states = SCHEMA["properties"]["state"]["enum"]
    assert states == [*(str(state) for state in CertificateState), None]


# Keys only POOL_LOW carries (contract 1.1); every other key is on every publication.
POOL_LOW_ONLY = {"available", "lowWatermark"}


def test_every_property_is_required_and_described() -> None:
    assert set(SCHEMA["required"]) == set(SCHEMA["properties"]) - POOL_LOW_ONLY
    assert set(SCHEMA["required"]) == set(PARTIALLY_REDEEMED)
    for name, definition in SCHEMA["properties"].items():
        assert definition.get("description"), name


@pytest.mark.parametrize(
    "instance",
    [PARTIALLY_REDEEMED, RESERVED, ISSUE_BLOCKED, POOL_LOW, LOCKED],
    ids=["partially-redeemed", "reserved", "issue-blocked", "pool-low", "locked"],
)
def test_hand_built_objects_validate(instance: dict[str, Any]) -> None:
    assert errors_of(instance) == []


def test_unknown_top_level_keys_are_allowed() -> None:
    assert errors_of({**PARTIALLY_REDEEMED, "loyaltyTier": "GOLD"}) == []


def broken(**changes: Any) -> dict[str, Any]:
    instance = copy.deepcopy(PARTIALLY_REDEEMED)
    for key, value in changes.items():
        if value is _DROP:
            del instance[key]
        else:
            instance[key] = value
    return instance


_DROP = object()


@pytest.mark.parametrize(
    "instance",
    [
        broken(amount=5000.0),
        broken(remainingBalance=3500),
        broken(remainingBalance="3 500.00"),
        broken(remainingBalance="-1.00"),
        broken(status=_DROP),
        broken(status="SOLD"),
        broken(state="ISSUED"),
        broken(state=None),
        broken(occurredAt="2026-12-01T12:00:00+03:00"),
        broken(occurredAt="yesterday"),
        broken(eventId="not-a-uuid"),
        broken(certificateId=None),
        broken(lock={"reason": "x", "by": "y", "at": "2026-12-02T08:00:00Z"}),
        broken(notification={"notificationId": "N-1", "channel": "EMAIL"}),
        broken(operation={**PARTIALLY_REDEEMED["operation"], "amount": 1500.0}),
        broken(amount=None),
        broken(version=0),
        broken(schemaVersion=2),
        {**ISSUE_BLOCKED, "state": "ACTIVE"},
        {**ISSUE_BLOCKED, "certificateId": CERTIFICATE_ID},
        {**POOL_LOW, "number": "4000123412344821"},
        {k: v for k, v in POOL_LOW.items() if k != "available"},
        {**POOL_LOW, "lowWatermark": -1},
        {**LOCKED, "lock": None},
        {**RESERVED, "redeemable": True},
    ],
)
def test_broken_objects_do_not_validate(instance: dict[str, Any]) -> None:
    assert errors_of(instance) != []


def test_the_domain_s_own_publications_validate() -> None:
    """Each publication is taken right after its event, as the outbox relay does."""
    cause = Cause.system("test", "msg-1")
    now = datetime(2026, 11, 26, 10, tzinfo=UTC)
    values: list[dict[str, Any]] = []

    def publish(aggregate: CertificatePool | GiftCertificate) -> None:
        for event in aggregate.collect_events():
            published = publication(aggregate, event)
            if published is not None:
                values.append(json.loads(json.dumps(published.value)))

    pool = CertificatePool.create(name="default", cause=cause)
    pool.report_low(available=3, cause=cause)
    pool.report_exhausted(at=now, cause=cause)
    publish(pool)
    certificate = GiftCertificate.create(
        pool="default",
        number=CertificateNumber.from_body("400012341234482"),
        sealed_cvc="sealed",
        cause=cause,
    )
    certificate.reserve(
        by="web",
        until=now + timedelta(minutes=30),
        idempotency_key=None,
        order_id="WEB-1",
        cause=cause,
    )
    publish(certificate)
    certificate.issue(
        amount=Money.of("5000.00"),
        channel="WEB",
        order_id="WEB-1",
        payment_ids=["PAY-1"],
        client_id="C-1",
        recipient=Recipient(name="Anna", email="anna@example.com"),
        notification_channel=NotificationChannel.EMAIL,
        issued_at=now,
        expires_at=now + timedelta(days=365),
        cause=cause,
    )
    publish(certificate)
    certificate.redeem(
        payment_id="PAY-2", order_id="POS-9", amount=Money.of("1500"), at=now, cause=cause
    )
    publish(certificate)
    certificate.lock_for(reason="fraud check", by="support", at=now, cause=cause)
    publish(certificate)

    assert [v["status"] for v in values] == [
        "POOL_LOW",
        "ISSUE_BLOCKED",
        "RESERVED",
        "ISSUED",
        "PARTIALLY_REDEEMED",
        "LOCKED",
    ]
    for value in values:
        assert errors_of(value) == []
