"""Rule 5: CRM's delivery results from All_Clients."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from gcp_app.inbound import Outcome
from gcp_app.inbound import builders as build
from gcp_app.use_cases import RequestNotification
from gcp_domain import Cause, NotificationStatus

A = Outcome.APPLIED
CRM = Cause("crm:svc", "req-resend", "req-resend")


@pytest.mark.parametrize(
    ("result", "error", "status"),
    [("SENT", None, "NOTIFICATION_SENT"), ("FAILED", "mailbox full", "NOTIFICATION_FAILED")],
)
def test_a_result_is_recorded(gcp: Any, result: str, error: str | None, status: str) -> None:
    granted, _ = gcp.sell(channel="EMAIL")
    cid = granted.certificate_id
    note = gcp.app.notification_ids.for_request(cid, 1)
    message = build.client_notification(cid, note, result, error=error)

    assert gcp.each(message) == [A]

    current = gcp.object(cid)
    assert current["status"] == status
    assert current["notification"] == {
        "notificationId": note,
        "channel": "EMAIL",
        "status": result,
        "attempt": 1,
        "error": error,
    }
    assert current["audit"]["updatedBy"] == "kafka:All_Clients"
    assert current["audit"]["causationId"] == message.message_id
    # The same result again, under a new messageId: nothing new.
    recorded = gcp.recorded()
    assert gcp.each(build.client_notification(cid, note, result, error=error)) == [
        Outcome.DUPLICATE
    ]
    assert gcp.recorded() == recorded


def test_a_failed_notification_can_be_requested_again(gcp: Any) -> None:
    granted, _ = gcp.sell(channel="EMAIL")
    cid = granted.certificate_id
    note = gcp.app.notification_ids.for_request(cid, 1)
    gcp.each(build.client_notification(cid, note, "FAILED", error="bounced"))

    second = gcp.app.execute(RequestNotification(certificate_id=cid, cause=CRM))
    assert gcp.each(build.client_notification(cid, second, "SENT")) == [A]

    certificate = gcp.certificate(cid)
    assert certificate.notification.attempt == 2
    assert certificate.notification.status is NotificationStatus.SENT
    assert gcp.statuses(cid)[-4:] == [
        "NOTIFICATION_REQUESTED",
        "NOTIFICATION_FAILED",
        "NOTIFICATION_REQUESTED",
        "NOTIFICATION_SENT",
    ]


def test_an_unknown_certificate_is_dead_lettered(gcp: Any) -> None:
    message = build.client_notification(uuid.uuid4(), "n-1", "SENT")

    assert gcp.each(message) == [Outcome.DEAD_LETTERED]

    (letter,) = gcp.dead_letters()
    assert letter.reason_code == "unknown-certificate"
    assert letter.source_topic == "All_Clients"
    assert letter.message_id == message.message_id


def test_an_unknown_notification_id_is_dead_lettered(gcp: Any) -> None:
    granted, _ = gcp.sell(channel="EMAIL")
    before = gcp.statuses(granted.certificate_id)

    assert gcp.each(build.client_notification(granted.certificate_id, "n-unknown", "SENT")) == [
        Outcome.DEAD_LETTERED
    ]

    (letter,) = gcp.dead_letters()
    assert letter.reason_code == "notification-refused"
    assert gcp.statuses(granted.certificate_id) == before


def test_a_contradicting_result_is_dead_lettered(gcp: Any) -> None:
    granted, _ = gcp.sell(channel="EMAIL")
    note = gcp.app.notification_ids.for_request(granted.certificate_id, 1)

    outcomes = gcp.each(
        build.client_notification(granted.certificate_id, note, "SENT"),
        build.client_notification(granted.certificate_id, note, "FAILED", error="late bounce"),
    )

    assert outcomes == [A, Outcome.DEAD_LETTERED]
    assert gcp.certificate(granted.certificate_id).notification.status is NotificationStatus.SENT


def test_an_unknown_result_is_dead_lettered(gcp: Any) -> None:
    granted, _ = gcp.sell(channel="EMAIL")
    note = gcp.app.notification_ids.for_request(granted.certificate_id, 1)

    assert gcp.each(build.client_notification(granted.certificate_id, note, "DELIVERED")) == [
        Outcome.DEAD_LETTERED
    ]
    (letter,) = gcp.dead_letters()
    assert letter.reason_code == "invalid-message"
