"""Audit: a certificate's history (who, when, why) and its state at any past point."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from tests.integration.certificates import disclose_open, record_sent, redeem
from tests.issuing import ADMIN, POOL, issue_reserved, open_notification

from gcp_app.application import GiftCertificates
from gcp_app.errors import CertificateNotFound
from gcp_domain import Cause, CertificateState, GiftCertificate
from gcp_domain.claims import number_claim_id

S = CertificateState
CHANNEL = Cause("channel:web", "req-next-1", "WEB-1")
PAYMENTS = Cause("kafka:All_Payments", "msg-pay-1", "WEB-1")
CRM = Cause("kafka:All_Clients", "msg-crm-1", "notify-1")
POS = Cause("kafka:All_Payments", "msg-pay-80", "POS-9")


def lived(app: GiftCertificates) -> UUID:
    """Reserved, issued (which asks CRM to deliver the CVC), disclosed, sent, redeemed twice:
    8 events. A millisecond separates the commands."""
    app.pools.generate_certificates(POOL, 2, cause=ADMIN)
    certificate_id = app.reservations.reserve_next(
        POOL, channel="WEB", order_id="WEB-1", cause=CHANNEL
    ).certificate_id
    steps = [
        lambda: issue_reserved(app, certificate_id, "WEB-1", payment_ids=["PAY-1"], cause=PAYMENTS),
        lambda: disclose_open(app, certificate_id, CRM),
        lambda: record_sent(app, certificate_id, open_notification(app, certificate_id), CRM),
        lambda: redeem(app, certificate_id, "PAY-80", "1500.00", order_id="POS-9", cause=POS),
        lambda: redeem(app, certificate_id, "PAY-81", "500.50", order_id="POS-10", cause=POS),
    ]
    for step in steps:
        time.sleep(0.002)
        step()
    return certificate_id


def test_history_says_who_did_what_and_why(app: GiftCertificates, clock: object) -> None:
    certificate_id = lived(app)

    history = app.history(certificate_id)

    assert [e.version for e in history] == list(range(1, 9))
    assert [e.event for e in history] == [
        "Created",
        "Reserved",
        "Issued",
        "NotificationRequested",
        "CvcDisclosed",
        "NotificationSent",
        "RedemptionApplied",
        "RedemptionApplied",
    ]
    assert [(e.actor, e.causation_id, e.correlation_id) for e in history] == [
        ("admin:ops", "req-generate", "req-generate"),
        ("channel:web", "req-next-1", "WEB-1"),
        ("kafka:All_Payments", "msg-pay-1", "WEB-1"),
        ("kafka:All_Payments", "msg-pay-1", "WEB-1"),
        ("kafka:All_Clients", "msg-crm-1", "notify-1"),
        ("kafka:All_Clients", "msg-crm-1", "notify-1"),
        ("kafka:All_Payments", "msg-pay-80", "POS-9"),
        ("kafka:All_Payments", "msg-pay-80", "POS-9"),
    ]
    assert [e.at for e in history] == sorted(e.at for e in history)
    created, reserved, issued = history[0], history[1], history[2]
    number = app.get_certificate(certificate_id).number
    assert created.details == {"pool": POOL, "number": number}
    assert reserved.details["reservedBy"] == "WEB"
    assert reserved.details["orderId"] == "WEB-1"
    assert reserved.details["idempotencyKey"] is None
    assert issued.details["amount"] == "5000.00"
    assert issued.details["currency"] == "RUB"
    assert issued.details["orderId"] == "WEB-1"
    assert issued.details["paymentIds"] == ["PAY-1"]
    assert issued.details["notificationChannel"] == "EMAIL"
    assert issued.details["recipient"] == {
        "name": "Anna",
        "email": "anna@example.com",
        "phone": None,
    }
    assert history[6].details == {
        "paymentId": "PAY-80",
        "orderId": "POS-9",
        "amount": "1500.00",
        "balanceAfter": "3500.00",
    }
    assert history[7].details["balanceAfter"] == "2999.50"


def test_history_never_carries_the_sealed_cvc(app: GiftCertificates) -> None:
    certificate_id = lived(app)
    sealed = app.get_certificate(certificate_id).sealed_cvc

    as_json = [e.as_json() for e in app.history(certificate_id)]
    text = json.dumps(as_json)

    assert sealed not in text
    assert all("sealedCvc" not in e["details"] for e in as_json)
    assert all(e["at"].endswith("Z") for e in as_json)
    assert set(as_json[0]) == {
        "version",
        "event",
        "at",
        "actor",
        "causationId",
        "correlationId",
        "details",
    }


def test_state_at_a_version_matches_a_replay(app: GiftCertificates) -> None:
    certificate_id = lived(app)

    for version in range(1, 9):
        past = app.state_at(certificate_id, version=version)
        replayed = app.store.repository.get(certificate_id, version=version)
        assert isinstance(replayed, GiftCertificate)
        assert past.version == replayed.version == version
        assert past.state is replayed.state
        assert past.balance == replayed.balance
        assert past.redemptions == replayed.redemptions
        assert past.notification == replayed.notification
        assert past.issue_terms == replayed.issue_terms

    assert app.state_at(certificate_id, version=1).state is S.AVAILABLE
    assert app.state_at(certificate_id, version=2).state is S.RESERVED
    assert app.state_at(certificate_id, version=6).balance == Decimal("5000.00")
    assert app.state_at(certificate_id, version=7).balance == Decimal("3500.00")
    assert app.state_at(certificate_id, version=8).balance == Decimal("2999.50")
    assert app.state_at(certificate_id).version == 8  # no bound: the current state


def test_state_at_an_instant_gives_the_state_then(app: GiftCertificates) -> None:
    certificate_id = lived(app)
    history = app.history(certificate_id)

    for entry in history:
        # At an instant: every event recorded then or before (one use case may record two).
        at_the_same_instant = [e.version for e in history if e.at == entry.at]
        at_the_event = app.state_at(certificate_id, at=entry.at)
        just_before = entry.at - timedelta(microseconds=1)
        assert at_the_event.version == max(at_the_same_instant)
        if entry.version > 1:
            assert (
                app.state_at(certificate_id, at=just_before).version == min(at_the_same_instant) - 1
            )

    before_redemption = app.state_at(certificate_id, at=history[6].at - timedelta(microseconds=1))
    assert before_redemption.balance == Decimal("5000.00")
    assert before_redemption.state is S.ACTIVE
    with pytest.raises(CertificateNotFound):
        app.state_at(certificate_id, at=history[0].at - timedelta(microseconds=1))


def test_queries_refuse_what_is_not_a_certificate(app: GiftCertificates) -> None:
    app.pools.generate_certificates(POOL, 1, cause=ADMIN)
    certificate_id = app.reservations.reserve_next(
        POOL, channel="WEB", cause=CHANNEL
    ).certificate_id
    claim_id = number_claim_id(app.get_certificate(certificate_id).number)

    for unknown in (UUID(int=7), claim_id):
        with pytest.raises(CertificateNotFound):
            app.history(unknown)
        with pytest.raises(CertificateNotFound):
            app.state_at(unknown, version=1)
        with pytest.raises(CertificateNotFound):
            app.get_certificate(unknown)
    with pytest.raises(CertificateNotFound):
        app.state_at(certificate_id, version=0)
