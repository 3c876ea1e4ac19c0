"""The GiftCertificates.Stream object of each event (gcp_domain.stream)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest

from gcp_domain import (
    Cause,
    CertificateNumber,
    CertificatePool,
    GiftCertificate,
    Money,
    NotificationChannel,
    NumberClaim,
    Publication,
    RejectionReason,
    publication,
)
from gcp_domain.stream import STATUSES, certificate_publication, stream_event_id

Command = Callable[[GiftCertificate, Any, Cause], object]


def publish(cert: GiftCertificate) -> Publication | None:
    """The publication of the one event the last command recorded."""
    [event] = cert.collect_events()
    return publication(cert, event)


def published(cert: GiftCertificate) -> Publication:
    pub = publish(cert)
    assert pub is not None
    return pub


def redeem(c: GiftCertificate, m: Any, k: Cause, amount: str, pid: str = "PAY-1") -> object:
    return c.redeem(payment_id=pid, order_id="POS-1", amount=Money.of(amount), at=m.during, cause=k)


def request(c: GiftCertificate, m: Any, k: Cause) -> object:
    return c.request_notification(notification_id="N-1", cause=k)


def requested(m: Any) -> GiftCertificate:
    cert = m.active()
    cert.request_notification(notification_id="N-1", cause=m.setup)
    cert.collect_events()
    return cert


# name: (start state, command, expected status, expected state)
SCENARIOS: dict[str, tuple[str, Command, str, str]] = {
    "reserve": (
        "available",
        lambda c, m, k: c.reserve(
            by="channel:web", until=m.during, idempotency_key=None, order_id="O-1", cause=k
        ),
        "RESERVED",
        "RESERVED",
    ),
    "release": (
        "reserved",
        lambda c, m, k: c.release_reservation(reason="PAYMENT_FAILED", cause=k),
        "RESERVATION_RELEASED",
        "AVAILABLE",
    ),
    "issue": ("reserved", lambda c, m, k: m.issue(c, cause=k), "ISSUED", "ACTIVE"),
    "request": ("active", request, "NOTIFICATION_REQUESTED", "ACTIVE"),
    "partial": (
        "active",
        lambda c, m, k: redeem(c, m, k, "1500"),
        "PARTIALLY_REDEEMED",
        "ACTIVE",
    ),
    "full": ("active", lambda c, m, k: redeem(c, m, k, "5000"), "REDEEMED", "REDEEMED"),
    "last-of-balance": (
        "partially_redeemed",
        lambda c, m, k: redeem(c, m, k, "3500"),
        "REDEEMED",
        "REDEEMED",
    ),
    "rejected": (
        "active",
        lambda c, m, k: redeem(c, m, k, "5000.01"),
        "REDEMPTION_REJECTED",
        "ACTIVE",
    ),
    "reversed": (
        "redeemed",
        lambda c, m, k: c.reverse_redemption(
            refund_payment_id="REF-9",
            redemption_payment_id="PAY-80",
            amount=Money.of("100"),
            cause=k,
        ),
        "REDEMPTION_REVERSED",
        "ACTIVE",
    ),
    "refund-pending": (
        "active",
        lambda c, m, k: c.start_refund(payment_id="REF-1", amount=None, cause=k),
        "REFUND_PENDING",
        "REFUND_PENDING",
    ),
    "refund-details": (
        "refund_pending",
        lambda c, m, k: c.refund_needs_details(payment_id="REF-1", cause=k),
        "REFUND_PENDING_DETAILS",
        "REFUND_PENDING",
    ),
    "refunded": (
        "refund_pending",
        lambda c, m, k: c.complete_refund(payment_id="REF-1", amount=Money.of("5000"), cause=k),
        "REFUNDED",
        "REFUNDED",
    ),
    "refund-failed": (
        "refund_pending",
        lambda c, m, k: c.fail_refund(payment_id="REF-1", reason="declined", cause=k),
        "ACTIVE",
        "ACTIVE",
    ),
    "lock": (
        "active",
        lambda c, m, k: c.lock_for(reason="fraud check", by="support:alice", at=m.during, cause=k),
        "LOCKED",
        "LOCKED",
    ),
    "unlock-to-active": (
        "locked",
        lambda c, m, k: c.unlock(reason="closed", by="support:alice", cause=k),
        "ACTIVE",
        "ACTIVE",
    ),
    "unlock-to-redeemed": (
        "locked_redeemed",
        lambda c, m, k: c.unlock(reason="closed", by="support:alice", cause=k),
        "REDEEMED",
        "REDEEMED",
    ),
    "expire": (
        "active",
        lambda c, m, k: c.expire(at=m.expires_at, cause=k),
        "EXPIRED",
        "EXPIRED",
    ),
    "cancel": (
        "active",
        lambda c, m, k: c.cancel(reason="PAYMENT_VOIDED", cause=k),
        "CANCELLED",
        "CANCELLED",
    ),
}


@pytest.mark.parametrize(("start", "command", "status", "state"), SCENARIOS.values(), ids=SCENARIOS)
def test_each_published_event_has_its_status_and_resting_state(
    start: str, command: Command, status: str, state: str, make, cause: Cause
) -> None:
    cert = make.in_state(start)
    command(cert, make, cause)
    pub = published(cert)
    assert pub.status == status
    assert pub.value["status"] == status
    assert pub.value["state"] == state
    assert pub.headers["status"] == status


@pytest.mark.parametrize(
    ("sent", "status"), [(True, "NOTIFICATION_SENT"), (False, "NOTIFICATION_FAILED")]
)
def test_notification_results_publish_sent_or_failed(
    sent: bool, status: str, make, cause: Cause
) -> None:
    cert = requested(make)
    cert.record_notification_result(
        notification_id="N-1", sent=sent, error=None if sent else "bounced", cause=cause
    )
    pub = published(cert)
    assert pub.status == status
    assert pub.value["notification"] == {
        "notificationId": "N-1",
        "channel": "EMAIL",
        "status": "SENT" if sent else "FAILED",
        "attempt": 1,
        "error": None if sent else "bounced",
    }
    assert pub.value["reason"] == (None if sent else "bounced")


def test_the_scenarios_cover_every_contract_status() -> None:
    covered = {s for _, _, s, _ in SCENARIOS.values()}
    covered |= {"NOTIFICATION_SENT", "NOTIFICATION_FAILED", "ISSUE_BLOCKED", "POOL_LOW"}
    assert covered == set(STATUSES)


def test_creation_is_not_published(make) -> None:
    cert = GiftCertificate.create(
        pool="default",
        number=CertificateNumber(make.number),
        sealed_cvc=make.sealed_cvc,
        cause=make.setup,
    )
    assert publish(cert) is None


def test_disclosing_the_cvc_is_not_published(make, cause: Cause) -> None:
    cert = requested(make)
    cert.disclose_cvc(notification_id="N-1", cause=cause)
    assert publish(cert) is None


# ------------------------------------------------------------------ eventId


def test_the_same_event_gives_the_same_event_id(make, cause: Cause) -> None:
    cert = make.active()
    cert.lock_for(reason="fraud", by="support:alice", at=make.during, cause=cause)
    [event] = cert.collect_events()
    first, again = publication(cert, event), publication(cert, event)
    assert first is not None
    assert again is not None
    assert first.event_id == again.event_id
    assert first.event_id == stream_event_id(cert.id, event.originator_version)
    assert UUID(first.event_id)
    assert first.headers["eventId"] == first.value["eventId"] == first.event_id


def test_different_versions_give_different_event_ids(make, cause: Cause) -> None:
    cert = make.active()
    cert.lock_for(reason="fraud", by="support:alice", at=make.during, cause=cause)
    locked = published(cert)
    cert.unlock(reason=None, by="support:alice", cause=cause)
    unlocked = published(cert)
    assert locked.event_id != unlocked.event_id
    assert (locked.value["version"], unlocked.value["version"]) == (
        cert.version - 1,
        cert.version,
    )


def test_the_same_version_of_two_certificates_gives_different_event_ids() -> None:
    assert stream_event_id(uuid4(), 3) != stream_event_id(uuid4(), 3)


def test_the_event_id_survives_a_replay(make, cause: Cause) -> None:
    cert = GiftCertificate.create(
        pool="default",
        number=CertificateNumber(make.number),
        sealed_cvc=make.sealed_cvc,
        cause=cause,
    )
    make.issue(cert, cause=cause)
    events = cert.collect_events()
    replayed = None
    for event in events:
        replayed = event.mutate(replayed)
    assert isinstance(replayed, GiftCertificate)
    live_pub = certificate_publication(cert, events[-1])
    replay_pub = certificate_publication(replayed, events[-1])
    assert live_pub == replay_pub


# ------------------------------------------------------------------ values


def test_the_issued_object_carries_the_contract_fields(make, cause: Cause) -> None:
    cert = make.reserved()
    make.issue(cert, cause=cause)
    [event] = cert.collect_events()
    pub = publication(cert, event)
    assert pub is not None
    value = pub.value
    assert pub.key == str(cert.id) == value["certificateId"]
    assert value["schemaVersion"] == 1
    assert value["number"] == make.number
    assert value["maskedNumber"] == "**** **** **** 1486"
    assert value["pool"] == "default"
    assert value["channel"] == "WEB"
    assert value["orderId"] == make.sale_order
    assert value["clientId"] == "C-1"
    assert value["amount"] == "5000.00"
    assert value["currency"] == "RUB"
    assert value["remainingBalance"] == "5000.00"
    assert value["issuedAt"] == "2026-11-26T10:00:00.000Z"
    assert value["expiresAt"] == "2027-11-26T10:00:00.000Z"
    assert value["recipient"] == {"name": "Anna", "email": "anna@example.com", "phone": None}
    assert value["notification"] is None
    assert value["lock"] is None
    assert value["refund"] is None
    assert value["reservation"] is None
    assert value["reason"] is None
    assert value["version"] == event.originator_version == cert.version
    assert value["operation"] == {
        "type": "ISSUE",
        "orderId": make.sale_order,
        "paymentId": "PAY-77",
        "paymentIds": ["PAY-77"],
        "amount": "5000.00",
    }


def test_the_headers_are_event_id_status_and_schema_version(make, cause: Cause) -> None:
    cert = make.active()
    cert.cancel(reason="PAYMENT_VOIDED", cause=cause)
    pub = published(cert)
    assert pub.headers == {
        "eventId": pub.event_id,
        "status": "CANCELLED",
        "schemaVersion": "1",
    }
    assert all(isinstance(v, str) for v in pub.headers.values())


def test_an_unissued_certificate_has_no_money_fields(make, cause: Cause) -> None:
    cert = make.available()
    cert.reserve(
        by="channel:web",
        until=datetime(2026, 11, 26, 10, 30, tzinfo=UTC),
        idempotency_key="k",
        order_id="O-1",
        cause=cause,
    )
    value = published(cert).value
    for field in ("amount", "currency", "remainingBalance", "issuedAt", "expiresAt", "orderId"):
        assert value[field] is None
    assert value["reservation"] == {
        "by": "channel:web",
        "until": "2026-11-26T10:30:00.000Z",
        "orderId": "O-1",
    }
    assert value["redeemable"] is False


@pytest.mark.parametrize(
    ("currency", "face", "taken", "amount", "balance", "operation"),
    [
        ("RUB", "5000", "1500.5", "5000.00", "3499.50", "1500.50"),
        ("JPY", "10000", "2500", "10000", "7500", "2500"),
        ("KWD", "20", "1.25", "20.000", "18.750", "1.250"),
    ],
)
def test_money_fields_are_strings_with_the_currency_minor_digits(
    currency: str,
    face: str,
    taken: str,
    amount: str,
    balance: str,
    operation: str,
    make,
    cause: Cause,
) -> None:
    cert = make.active(amount=face, currency=currency)
    cert.redeem(
        payment_id="PAY-1",
        order_id="POS-1",
        amount=Money.of(taken, currency),
        at=make.during,
        cause=cause,
    )
    value = published(cert).value
    assert value["amount"] == amount
    assert value["currency"] == currency
    assert value["remainingBalance"] == balance
    assert value["operation"]["amount"] == operation


def test_a_full_redemption_publishes_a_zero_balance_string(make, cause: Cause) -> None:
    cert = make.active()
    redeem(cert, make, cause, "5000")
    value = published(cert).value
    assert value["remainingBalance"] == "0.00"
    assert value["redeemable"] is False


def test_timestamps_are_rfc3339_utc_ending_in_z(make, cause: Cause) -> None:
    moscow = timezone(timedelta(hours=3))
    cert = make.active(
        issued_at=datetime(2026, 11, 26, 13, 0, tzinfo=moscow),
        expires_at=datetime(2027, 11, 26, 13, 0, tzinfo=moscow),
    )
    cert.lock_for(
        reason="fraud", by="support:alice", at=datetime(2026, 12, 1, 15, tzinfo=moscow), cause=cause
    )
    value = published(cert).value
    assert value["issuedAt"] == "2026-11-26T10:00:00.000Z"
    assert value["expiresAt"] == "2027-11-26T10:00:00.000Z"
    assert value["lock"]["at"] == "2026-12-01T12:00:00.000Z"
    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
    for moment in (
        value["occurredAt"],
        value["audit"]["createdAt"],
        value["audit"]["updatedAt"],
        value["issuedAt"],
    ):
        assert pattern.match(moment), moment
    assert value["audit"]["updatedAt"] == value["occurredAt"]


# ------------------------------------------------------------------ redeemable


@pytest.fixture
def live(make) -> Callable[[], GiftCertificate]:
    """An ACTIVE certificate whose validity covers the wall clock (events carry real time)."""

    def build() -> GiftCertificate:
        now = datetime.now(UTC)
        return make.active(issued_at=now - timedelta(hours=1), expires_at=now + timedelta(days=365))

    return build


def test_an_active_certificate_with_balance_before_expiry_is_redeemable(
    live, make, cause: Cause
) -> None:
    cert = live()
    redeem(cert, make, cause, "1500")
    assert published(cert).value["redeemable"] is True


@pytest.mark.parametrize(
    "command",
    [
        lambda c, m, k: redeem(c, m, k, "5000"),
        lambda c, m, k: c.lock_for(reason="fraud", by="support", at=m.during, cause=k),
        lambda c, m, k: c.start_refund(payment_id="REF-1", amount=None, cause=k),
        lambda c, m, k: c.cancel(reason="VOIDED", cause=k),
    ],
    ids=["redeemed", "locked", "refund-pending", "cancelled"],
)
def test_a_certificate_that_is_not_active_with_balance_is_not_redeemable(
    command: Command, live, make, cause: Cause
) -> None:
    cert = live()
    command(cert, make, cause)
    assert published(cert).value["redeemable"] is False


def test_an_active_certificate_past_its_expiry_is_not_redeemable(make, cause: Cause) -> None:
    cert = make.active(
        issued_at=datetime(2020, 1, 1, tzinfo=UTC), expires_at=datetime(2021, 1, 1, tzinfo=UTC)
    )
    request(cert, make, cause)
    value = published(cert).value
    assert value["state"] == "ACTIVE"
    assert value["redeemable"] is False


def test_is_redeemable_ends_exactly_at_expires_at(make) -> None:
    cert = make.active()
    assert cert.is_redeemable(make.expires_at - timedelta(microseconds=1))
    assert not cert.is_redeemable(make.expires_at)


# ------------------------------------------------------------------ lock, refund, operation


def test_the_lock_is_published_while_locked_and_gone_after_unlock(make, cause: Cause) -> None:
    cert = make.active()
    cert.lock_for(reason="fraud check", by="support:alice", at=make.during, cause=cause)
    locked = published(cert).value
    assert locked["lock"] == {
        "reason": "fraud check",
        "by": "support:alice",
        "at": "2026-12-26T10:00:00.000Z",
    }
    assert locked["reason"] == "fraud check"
    cert.unlock(reason="closed", by="support:alice", cause=cause)
    unlocked = published(cert).value
    assert unlocked["lock"] is None
    assert unlocked["reason"] == "closed"


def test_the_refund_is_published_with_status_payment_and_amount(make, cause: Cause) -> None:
    cert = make.active()
    cert.start_refund(payment_id="REF-1", amount=Money.of("5000"), cause=cause)
    assert published(cert).value["refund"] == {
        "status": "PENDING",
        "paymentId": "REF-1",
        "amount": "5000.00",
    }
    cert.refund_needs_details(payment_id="REF-1", cause=cause)
    assert published(cert).value["refund"]["status"] == "PENDING_DETAILS"
    cert.fail_refund(payment_id="REF-1", reason="declined", cause=cause)
    failed = published(cert).value
    assert failed["refund"]["status"] == "FAILED"
    assert failed["reason"] == "declined"


def test_a_refund_without_a_known_amount_publishes_amount_null(make, cause: Cause) -> None:
    cert = make.active()
    cert.start_refund(payment_id="REF-1", amount=None, cause=cause)
    assert published(cert).value["refund"]["amount"] is None


def test_a_completed_refund_publishes_the_refund_operation(make, cause: Cause) -> None:
    cert = make.refund_pending()
    cert.complete_refund(payment_id="REF-1", amount=Money.of("5000"), cause=cause)
    value = published(cert).value
    assert value["operation"] == {
        "type": "REFUND",
        "orderId": make.sale_order,
        "paymentId": "REF-1",
        "amount": "5000.00",
    }
    assert value["remainingBalance"] == "0.00"
    assert value["refund"]["status"] == "COMPLETED"


def test_a_redemption_publishes_its_operation(make, cause: Cause) -> None:
    cert = make.active()
    redeem(cert, make, cause, "1500", pid="PAY-80")
    assert published(cert).value["operation"] == {
        "type": "REDEMPTION",
        "orderId": "POS-1",
        "paymentId": "PAY-80",
        "amount": "1500.00",
    }


def test_a_rejected_redemption_is_an_attempt_with_its_reason(make, cause: Cause) -> None:
    cert = make.active()
    redeem(cert, make, cause, "5000.01")
    value = published(cert).value
    assert value["operation"] == {
        "type": "REDEMPTION_ATTEMPT",
        "orderId": "POS-1",
        "paymentId": "PAY-1",
        "amount": "5000.01",
    }
    assert value["reason"] == RejectionReason.INSUFFICIENT_BALANCE
    assert value["remainingBalance"] == "5000.00"


def test_a_rejected_redemption_in_another_currency_shows_its_own_currency_digits(
    make, cause: Cause
) -> None:
    cert = make.active()
    cert.redeem(
        payment_id="PAY-1",
        order_id=None,
        amount=Money.of("100", "JPY"),
        at=make.during,
        cause=cause,
    )
    value = published(cert).value
    assert value["operation"]["amount"] == "100"
    assert value["reason"] == "CURRENCY_MISMATCH"


def test_a_reversal_names_the_redemption_it_returns(make, cause: Cause) -> None:
    cert = make.partially_redeemed()
    cert.reverse_redemption(
        refund_payment_id="REF-9",
        redemption_payment_id="PAY-80",
        amount=Money.of("500"),
        cause=cause,
    )
    value = published(cert).value
    assert value["operation"] == {
        "type": "REDEMPTION_REVERSAL",
        "orderId": "POS-9",
        "paymentId": "REF-9",
        "refundOf": "PAY-80",
        "amount": "500.00",
    }
    assert value["remainingBalance"] == "4000.00"


@pytest.mark.parametrize("start", ["active", "locked"])
def test_state_changes_without_money_movement_have_no_operation(
    start: str, make, cause: Cause
) -> None:
    cert = make.in_state(start)
    cert.expire(at=make.expires_at, cause=cause)
    value = published(cert).value
    assert value["operation"] is None
    assert value["lock"] is None
    assert value["reason"] is None


def test_a_cancellation_publishes_its_reason(make, cause: Cause) -> None:
    cert = make.active()
    cert.cancel(reason="ORDER_CANCELLED", cause=cause)
    value = published(cert).value
    assert value["reason"] == "ORDER_CANCELLED"
    assert value["remainingBalance"] == "0.00"


def test_the_audit_names_who_why_and_the_conversation(make) -> None:
    cert = make.active()
    cause = Cause(actor="kafka:All_Payments", causation_id="msg-123", correlation_id="WEB-100045")
    redeem(cert, make, cause, "1")
    audit = published(cert).value["audit"]
    assert audit["updatedBy"] == "kafka:All_Payments"
    assert audit["causationId"] == "msg-123"
    assert audit["correlationId"] == "WEB-100045"
    assert audit["createdAt"] == published_created_at(cert)


def published_created_at(cert: GiftCertificate) -> str:
    return cert.created_on.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ------------------------------------------------------------------ the CVC never appears


def test_no_stream_object_of_a_whole_lifecycle_holds_the_cvc(make, cause: Cause) -> None:
    plain = "739"
    sealed = "sealed:v1:cvc-739-XYZ"
    cert = GiftCertificate.create(
        pool="default", number=CertificateNumber(make.number), sealed_cvc=sealed, cause=cause
    )
    commands: list[Callable[[], object]] = [
        lambda: cert.reserve(
            by="channel:web", until=make.during, idempotency_key=None, order_id=None, cause=cause
        ),
        lambda: make.issue(cert, channel=NotificationChannel.EMAIL, cause=cause),
        lambda: cert.request_notification(notification_id="N-1", cause=cause),
        lambda: cert.disclose_cvc(notification_id="N-1", cause=cause),
        lambda: cert.record_notification_result(
            notification_id="N-1", sent=True, error=None, cause=cause
        ),
        lambda: redeem(cert, make, cause, "1500"),
        lambda: redeem(cert, make, cause, "9999", pid="PAY-2"),
        lambda: cert.lock_for(reason="fraud", by="support", at=make.during, cause=cause),
        lambda: cert.unlock(reason=None, by="support", cause=cause),
        lambda: cert.start_refund(payment_id="REF-1", amount=None, cause=cause),
        lambda: cert.complete_refund(payment_id="REF-1", amount=Money.of("3500"), cause=cause),
    ]
    texts = []
    for command in commands:
        command()
        for event in cert.collect_events():
            pub = publication(cert, event)
            if pub is not None:
                texts.append(json.dumps(pub.value) + json.dumps(pub.headers) + pub.key)
    assert len(texts) == 10  # every command but disclose_cvc published
    for text in texts:
        assert sealed not in text
        assert f'"{plain}"' not in text
        assert "cvc" not in text.lower()


# ------------------------------------------------------------------ pool: ISSUE_BLOCKED


def blocked_publication(cause: Cause) -> tuple[CertificatePool, Publication]:
    pool = CertificatePool.create(name="spring-2027", cause=cause)
    pool.collect_events()
    pool.report_exhausted(at=datetime(2026, 11, 26, 10, tzinfo=UTC), cause=cause)
    [event] = pool.collect_events()
    pub = publication(pool, event)
    assert pub is not None
    return pool, pub


def test_an_exhausted_pool_publishes_issue_blocked_keyed_by_its_name(cause: Cause) -> None:
    pool, pub = blocked_publication(cause)
    assert pub.key == "spring-2027"
    assert pub.status == "ISSUE_BLOCKED"
    assert pub.headers == {"eventId": pub.event_id, "status": "ISSUE_BLOCKED", "schemaVersion": "1"}
    value = pub.value
    assert value["status"] == "ISSUE_BLOCKED"
    assert value["pool"] == "spring-2027"
    assert value["reason"] == "POOL_EXHAUSTED"
    assert value["redeemable"] is False
    assert value["certificateId"] is None
    assert value["state"] is None
    assert value["version"] == pool.version
    assert value["eventId"] == stream_event_id(pool.id, pool.version)
    assert value["audit"]["updatedBy"] == cause.actor
    assert value["audit"]["causationId"] == cause.causation_id
    assert value["audit"]["correlationId"] == cause.correlation_id
    assert value["occurredAt"].endswith("Z")


def test_issue_blocked_has_the_same_fields_as_a_certificate_object(make, cause: Cause) -> None:
    _, pub = blocked_publication(cause)
    cert = make.active()
    cert.lock_for(reason="fraud", by="support", at=make.during, cause=cause)
    assert set(pub.value) == set(published(cert).value)


def test_a_pool_below_its_low_watermark_publishes_pool_low_with_its_level(
    make, cause: Cause
) -> None:
    pool = CertificatePool.create(name="spring-2027", low_watermark=100, cause=cause)
    pool.collect_events()
    assert pool.report_low(available=99, cause=cause)
    [event] = pool.collect_events()
    pub = publication(pool, event)
    assert pub is not None
    assert (pub.key, pub.status) == ("spring-2027", "POOL_LOW")
    assert pub.headers["status"] == "POOL_LOW"
    value = pub.value
    assert (value["pool"], value["reason"]) == ("spring-2027", "BELOW_LOW_WATERMARK")
    assert (value["available"], value["lowWatermark"]) == (99, 100)
    assert value["certificateId"] is None
    assert value["redeemable"] is False
    assert value["version"] == pool.version
    _, blocked = blocked_publication(cause)
    assert set(value) == set(blocked.value) | {"available", "lowWatermark"}


def test_other_pool_events_are_not_published(cause: Cause) -> None:
    pool = CertificatePool.create(name="default", cause=cause)
    pool.record_added(count=5, source="generate", cause=cause)
    pool.set_low_watermark(low_watermark=3, cause=cause)
    pool.report_low(available=2, cause=cause)
    pool.record_added(count=5, source="generate", cause=cause)
    pool.report_restocked(available=7, cause=cause)
    events = pool.collect_events()
    published = [publication(pool, e) for e in events]
    assert [p.status if p else None for p in published] == [
        None, None, None, "POOL_LOW", None, None
    ]  # fmt: skip
    assert isinstance(events[-1], CertificatePool.Replenished)


def test_claims_are_not_published(cause: Cause) -> None:
    claim = NumberClaim(number="4539578763621486", certificate_id=uuid4(), cause=cause)
    [event] = claim.collect_events()
    assert publication(claim, event) is None


def test_every_publication_is_plain_json(make, cause: Cause) -> None:
    cert = make.partially_redeemed()
    cert.lock_for(reason="fraud", by="support", at=make.during, cause=cause)
    value = published(cert).value
    assert json.loads(json.dumps(value)) == value
