"""GiftCertificate: CVC notification requests, the one-time CVC, and delivery results."""

from __future__ import annotations

import pytest
from tests.unit.domain.conftest import Recorded

from gcp_domain import (
    Cause,
    CertificateState,
    GiftCertificate,
    NotificationChannel,
    NotificationStatus,
)
from gcp_domain.errors import (
    CvcAlreadyDisclosed,
    CvcNotAvailable,
    InvalidCommand,
    TransitionNotAllowed,
)

S = CertificateState


def requested(make, notification_id: str = "N-1") -> GiftCertificate:
    cert = make.active()
    cert.request_notification(notification_id=notification_id, cause=make.setup)
    cert.collect_events()
    return cert


def result(cert: GiftCertificate, cause: Cause, *, sent: bool, nid: str = "N-1") -> bool:
    error = None if sent else "mailbox full"
    return cert.record_notification_result(notification_id=nid, sent=sent, error=error, cause=cause)


# ------------------------------------------------------------------ request


def test_the_first_request_is_attempt_1_on_the_issue_channel(make, cause: Cause) -> None:
    cert = make.active(channel=NotificationChannel.SMS)
    assert cert.request_notification(notification_id="N-1", cause=cause) is True
    note = cert.notification
    assert note is not None
    assert note.notification_id == "N-1"
    assert note.channel is NotificationChannel.SMS
    assert note.attempt == 1
    assert note.status is NotificationStatus.REQUESTED
    assert not note.cvc_disclosed
    [event] = cert.collect_events()
    assert isinstance(event, GiftCertificate.NotificationRequested)
    assert event.attempt == 1
    assert event.channel == "SMS"
    assert event.cause == cause


def test_a_request_may_name_another_channel(make, cause: Cause) -> None:
    cert = make.active(channel=NotificationChannel.EMAIL)
    cert.request_notification(notification_id="N-1", channel=NotificationChannel.SMS, cause=cause)
    assert cert.notification is not None
    assert cert.notification.channel is NotificationChannel.SMS


def test_a_certificate_with_channel_none_gets_no_request(
    make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.active(channel=NotificationChannel.NONE)
    with pytest.raises(InvalidCommand):
        cert.request_notification(notification_id="N-1", cause=cause)
    assert recorded(cert) == []
    assert cert.notification is None


def test_an_explicit_channel_none_is_refused(make, cause: Cause, recorded: Recorded) -> None:
    cert = make.active()
    with pytest.raises(InvalidCommand):
        cert.request_notification(
            notification_id="N-1", channel=NotificationChannel.NONE, cause=cause
        )
    assert recorded(cert) == []


def test_requesting_the_same_notification_id_twice_records_one_event(
    make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.active()
    assert cert.request_notification(notification_id="N-1", cause=cause) is True
    assert cert.request_notification(notification_id="N-1", cause=cause) is False
    assert recorded(cert) == ["NotificationRequested"]


def test_an_open_request_blocks_a_new_one(make, cause: Cause, recorded: Recorded) -> None:
    cert = requested(make)
    with pytest.raises(TransitionNotAllowed):
        cert.request_notification(notification_id="N-2", cause=cause)
    assert recorded(cert) == []
    assert cert.notification is not None
    assert cert.notification.notification_id == "N-1"


@pytest.mark.parametrize("sent", [False, True], ids=["after-failed", "after-sent"])
def test_a_new_request_after_a_result_is_the_next_attempt(sent: bool, make, cause: Cause) -> None:
    cert = requested(make)
    result(cert, cause, sent=sent)
    assert cert.request_notification(notification_id="N-2", cause=cause) is True
    note = cert.notification
    assert note is not None
    assert note.notification_id == "N-2"
    assert note.attempt == 2
    assert note.status is NotificationStatus.REQUESTED
    assert note.error is None
    assert not note.cvc_disclosed


@pytest.mark.parametrize(
    "state",
    ["available", "reserved", "redeemed", "locked", "refund_pending", "expired", "cancelled"],
)
def test_only_an_active_certificate_gets_a_notification_request(
    state: str, make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.in_state(state)
    version = cert.version
    with pytest.raises(TransitionNotAllowed):
        cert.request_notification(notification_id="N-9", cause=cause)
    assert recorded(cert) == []
    assert cert.version == version


# ------------------------------------------------------------------ CVC


def test_the_sealed_cvc_is_disclosed_for_the_open_request(make, cause: Cause) -> None:
    cert = requested(make)
    assert cert.disclose_cvc(notification_id="N-1", cause=cause) == make.sealed_cvc
    assert cert.notification is not None
    assert cert.notification.cvc_disclosed
    [event] = cert.collect_events()
    assert isinstance(event, GiftCertificate.CvcDisclosed)
    assert event.notification_id == "N-1"
    assert event.cause == cause


def test_the_cvc_is_disclosed_once_per_request(make, cause: Cause, recorded: Recorded) -> None:
    cert = requested(make)
    cert.disclose_cvc(notification_id="N-1", cause=cause)
    assert recorded(cert) == ["CvcDisclosed"]
    with pytest.raises(CvcAlreadyDisclosed):
        cert.disclose_cvc(notification_id="N-1", cause=cause)
    assert recorded(cert) == []


@pytest.mark.parametrize("notification_id", ["N-2", "", "n-1"])
def test_the_cvc_of_another_request_is_not_available(
    notification_id: str, make, cause: Cause, recorded: Recorded
) -> None:
    cert = requested(make)
    with pytest.raises(CvcNotAvailable):
        cert.disclose_cvc(notification_id=notification_id, cause=cause)
    assert recorded(cert) == []
    assert cert.notification is not None
    assert not cert.notification.cvc_disclosed


def test_the_cvc_is_not_available_without_any_request(
    make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.active()
    with pytest.raises(CvcNotAvailable):
        cert.disclose_cvc(notification_id="N-1", cause=cause)
    assert recorded(cert) == []


def test_the_cvc_of_a_locked_certificate_is_not_available(
    make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.lock(requested(make))
    with pytest.raises(CvcNotAvailable):
        cert.disclose_cvc(notification_id="N-1", cause=cause)
    assert recorded(cert) == []


@pytest.mark.parametrize("sent", [True, False], ids=["sent", "failed"])
def test_the_cvc_of_a_closed_request_is_not_available(
    sent: bool, make, cause: Cause, recorded: Recorded
) -> None:
    cert = requested(make)
    result(cert, cause, sent=sent)
    cert.collect_events()
    with pytest.raises(CvcNotAvailable):
        cert.disclose_cvc(notification_id="N-1", cause=cause)
    assert recorded(cert) == []


def test_a_new_request_may_disclose_the_cvc_again(make, cause: Cause) -> None:
    cert = requested(make)
    cert.disclose_cvc(notification_id="N-1", cause=cause)
    result(cert, cause, sent=False)
    cert.request_notification(notification_id="N-2", cause=cause)
    assert cert.disclose_cvc(notification_id="N-2", cause=cause) == make.sealed_cvc


def test_cvc_errors_never_hold_the_cvc(make, cause: Cause) -> None:
    cert = requested(make)
    cert.disclose_cvc(notification_id="N-1", cause=cause)
    for nid in ("N-1", "N-2"):
        with pytest.raises((CvcAlreadyDisclosed, CvcNotAvailable)) as raised:
            cert.disclose_cvc(notification_id=nid, cause=cause)
        assert make.sealed_cvc not in str(raised.value)
        assert make.sealed_cvc not in raised.value.message


# ------------------------------------------------------------------ result


def test_a_sent_result_closes_the_request(make, cause: Cause) -> None:
    cert = requested(make)
    assert result(cert, cause, sent=True) is True
    assert cert.notification is not None
    assert cert.notification.status is NotificationStatus.SENT
    assert cert.notification.error is None
    [event] = cert.collect_events()
    assert isinstance(event, GiftCertificate.NotificationSent)
    assert event.cause == cause


def test_a_failed_result_keeps_the_error(make, cause: Cause) -> None:
    cert = requested(make)
    assert result(cert, cause, sent=False) is True
    assert cert.notification is not None
    assert cert.notification.status is NotificationStatus.FAILED
    assert cert.notification.error == "mailbox full"
    [event] = cert.collect_events()
    assert isinstance(event, GiftCertificate.NotificationFailed)
    assert event.error == "mailbox full"
    assert event.cause == cause


@pytest.mark.parametrize("sent", [True, False], ids=["sent", "failed"])
def test_the_same_result_twice_records_one_event(
    sent: bool, make, cause: Cause, recorded: Recorded
) -> None:
    cert = requested(make)
    assert result(cert, cause, sent=sent) is True
    assert result(cert, cause, sent=sent) is False
    assert len(recorded(cert)) == 1


@pytest.mark.parametrize("first", [True, False], ids=["sent-then-failed", "failed-then-sent"])
def test_a_contradicting_second_result_is_not_allowed(
    first: bool, make, cause: Cause, recorded: Recorded
) -> None:
    cert = requested(make)
    result(cert, cause, sent=first)
    cert.collect_events()
    with pytest.raises(TransitionNotAllowed):
        result(cert, cause, sent=not first)
    assert recorded(cert) == []


def test_a_result_for_an_unknown_request_is_invalid(make, cause: Cause, recorded: Recorded) -> None:
    cert = requested(make)
    with pytest.raises(InvalidCommand):
        result(cert, cause, sent=True, nid="N-404")
    assert recorded(cert) == []
    assert cert.notification is not None
    assert cert.notification.status is NotificationStatus.REQUESTED


def test_a_result_is_recorded_on_a_locked_certificate(make, cause: Cause) -> None:
    cert = make.lock(requested(make))
    assert result(cert, cause, sent=True) is True
    assert cert.state is S.LOCKED


def test_a_late_repeat_of_an_earlier_requests_result_records_nothing(
    make, cause: Cause, recorded: Recorded
) -> None:
    cert = requested(make, "N-1")
    result(cert, cause, sent=False, nid="N-1")
    cert.request_notification(notification_id="N-2", cause=cause)
    cert.collect_events()
    assert result(cert, cause, sent=False, nid="N-1") is False
    assert recorded(cert) == []
    with pytest.raises(TransitionNotAllowed):
        result(cert, cause, sent=True, nid="N-1")  # contradicts what was recorded for N-1
