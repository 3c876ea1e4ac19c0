"""The certificate endpoints: happy paths, and each refusal as its problem type."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID, uuid4

import pytest
from litestar.testing import TestClient

from gcp_app.application import GiftCertificates
from gcp_app.errors import ConcurrentUpdate, ReservationContention
from gcp_app.reservation_desk import ReservationDesk
from gcp_app.use_cases import LockCertificate, ReleaseReservation
from gcp_domain import Cause
from gcp_domain.errors import DomainError
from gcp_domain.numbers import CertificateNumber

from .conftest import Bearer, Problem

# ---------------------------------------------------------------------- GET /certificates/next


def test_reserve_next_answers_the_reservation_and_records_the_request(
    client: TestClient[Any], gcp: GiftCertificates, bearer: Bearer
) -> None:
    response = client.get(
        "/certificates/next",
        params={"pool": "default", "orderId": "WEB-100045"},
        headers={**bearer("channel", sub="web-shop"), "X-Request-Id": "req-web-1"},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"certificateId", "number", "pool", "reservedUntil"}
    assert body["pool"] == "default"
    assert CertificateNumber.parse(body["number"]).value == body["number"]
    assert body["reservedUntil"].endswith("Z")
    reserved = gcp.history(UUID(body["certificateId"]))[-1]
    assert reserved.event == "Reserved"
    assert reserved.actor == "http:web-shop"
    assert reserved.causation_id == "req-web-1"
    assert reserved.correlation_id == "WEB-100045"
    state = gcp.current_object(UUID(body["certificateId"]))
    assert state["reservation"] == {
        "by": "web-shop",
        "until": body["reservedUntil"],
        "orderId": "WEB-100045",
    }


def test_reserve_next_defaults_to_the_default_pool_and_correlates_by_request_id(
    client: TestClient[Any], gcp: GiftCertificates, bearer: Bearer
) -> None:
    response = client.get("/certificates/next", headers=bearer("channel"))
    assert response.status_code == 200
    reserved = gcp.history(UUID(response.json()["certificateId"]))[-1]
    assert reserved.causation_id == response.headers["x-request-id"]
    assert reserved.correlation_id == response.headers["x-request-id"]


def test_a_retry_with_the_same_idempotency_key_gets_the_same_reservation(
    client: TestClient[Any], bearer: Bearer
) -> None:
    headers = {**bearer("channel", sub="pos-1"), "Idempotency-Key": "k-1"}
    first = client.get("/certificates/next", headers=headers)
    again = client.get("/certificates/next", headers=headers)
    other = client.get("/certificates/next", headers={**headers, "Idempotency-Key": "k-2"})
    # The key is the channel's own: another subject with the same key gets its own answer.
    stranger = client.get(
        "/certificates/next", headers={**bearer("channel", sub="pos-2"), "Idempotency-Key": "k-1"}
    )

    assert first.status_code == again.status_code == other.status_code == 200
    assert again.json() == first.json()
    assert other.json()["certificateId"] != first.json()["certificateId"]
    assert stranger.json()["certificateId"] != first.json()["certificateId"]


def test_an_empty_pool_is_409_and_records_issue_blocked(
    client: TestClient[Any], gcp: GiftCertificates, bearer: Bearer, problem: Problem
) -> None:
    for _ in range(5):
        assert client.get("/certificates/next", headers=bearer("channel")).status_code == 200

    response = client.get("/certificates/next", headers=bearer("channel"))

    problem(response, 409, "pool-exhausted")
    topics = [n.topic for n in gcp.store.recorder.select_notifications(start=1, limit=10_000)]
    assert any(topic.endswith("IssueBlocked") for topic in topics), topics


def test_refusals_of_one_kind_are_logged_once_a_minute_not_once_a_request(
    client: TestClient[Any], bearer: Bearer, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12: 37,315 INFO lines for the refused reservations of an empty pool."""
    for _ in range(5):
        client.get("/certificates/next", headers=bearer("channel"))
    caplog.set_level(logging.INFO, logger="gcp.http")

    answers = [client.get("/certificates/next", headers=bearer("channel")) for _ in range(50)]

    assert {a.status_code for a in answers} == {409}
    lines = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) <= 1, [r.getMessage() for r in lines]
    assert all(r.getMessage().startswith("GET /certificates/next refused: pool") for r in lines)


def test_an_unknown_pool_is_404(client: TestClient[Any], bearer: Bearer, problem: Problem) -> None:
    response = client.get("/certificates/next", params={"pool": "nope"}, headers=bearer("channel"))
    problem(response, 404, "pool-not-found")


def test_a_lapsed_idempotent_reservation_is_409(
    client: TestClient[Any], gcp: GiftCertificates, bearer: Bearer, problem: Problem
) -> None:
    headers = {**bearer("channel"), "Idempotency-Key": "k-lapse"}
    first = client.get("/certificates/next", headers=headers).json()
    gcp.execute(
        ReleaseReservation(
            certificate_id=UUID(first["certificateId"]),
            reason="PAYMENT_FAILED",
            cause=Cause("t", "t", "t"),
        )
    )

    problem(client.get("/certificates/next", headers=headers), 409, "reservation-lapsed")


@pytest.mark.parametrize(
    ("error", "slug"),
    [
        (ReservationContention("busy"), "reservation-contention"),
        (ConcurrentUpdate("busy"), "concurrent-update"),
    ],
)
def test_contention_is_503_with_retry_after(
    client: TestClient[Any],
    gcp: GiftCertificates,
    bearer: Bearer,
    problem: Problem,
    monkeypatch: pytest.MonkeyPatch,
    error: DomainError,
    slug: str,
) -> None:
    refusing = ReservationDesk(lambda requests: [error for _ in requests])
    monkeypatch.setattr(gcp, "reservation_desk", refusing)
    try:
        response = client.get("/certificates/next", headers=bearer("channel"))
    finally:
        refusing.close()
    problem(response, 503, slug)
    assert response.headers["retry-after"] == "1"


# ---------------------------------------------------------------------- GET /certificates/{id}


@pytest.mark.parametrize("role", ["channel", "crm", "support"])
def test_the_state_object_is_the_stream_shape(
    client: TestClient[Any], gcp: GiftCertificates, world: Any, bearer: Bearer, role: str
) -> None:
    response = client.get(f"/certificates/{world.certificate_id}", headers=bearer(role))
    assert response.status_code == 200
    assert response.json() == gcp.current_object(world.certificate_id)
    assert response.json()["status"] == "NOTIFICATION_REQUESTED"


def test_an_unknown_certificate_is_404(
    client: TestClient[Any], bearer: Bearer, problem: Problem
) -> None:
    problem(client.get(f"/certificates/{uuid4()}", headers=bearer("crm")), 404, "not-found")


def test_a_path_that_is_no_certificate_id_is_404(
    client: TestClient[Any], bearer: Bearer, problem: Problem
) -> None:
    problem(client.get("/certificates/1234", headers=bearer("crm")), 404, "route-not-found")


# ---------------------------------------------------------------------- the CVC


def test_the_cvc_is_disclosed_once(
    client: TestClient[Any], gcp: GiftCertificates, world: Any, bearer: Bearer, problem: Problem
) -> None:
    url = f"/certificates/{world.certificate_id}/cvc"
    params = {"notificationId": world.notification_id}

    first = client.get(url, params=params, headers=bearer("crm"))
    second = client.get(url, params=params, headers=bearer("crm"))

    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"certificateId", "notificationId", "cvc"}
    assert body["certificateId"] == str(world.certificate_id)
    assert body["notificationId"] == world.notification_id
    assert len(body["cvc"]) == 8
    assert body["cvc"].isdigit()
    gone = problem(second, 410, "cvc-already-disclosed")
    assert body["cvc"] not in second.text
    assert body["cvc"] not in str(gone)
    disclosed = gcp.history(world.certificate_id)[-1]
    assert disclosed.event == "CvcDisclosed"
    assert disclosed.causation_id == first.headers["x-request-id"]
    assert body["cvc"] not in str(disclosed.as_json())


def test_unknown_certificate_and_wrong_notification_answer_the_same_404(
    client: TestClient[Any], world: Any, bearer: Bearer, problem: Problem
) -> None:
    rid = "req-same"
    unknown = client.get(
        f"/certificates/{uuid4()}/cvc",
        params={"notificationId": world.notification_id},
        headers={**bearer("crm"), "X-Request-Id": rid},
    )
    wrong = client.get(
        f"/certificates/{world.certificate_id}/cvc",
        params={"notificationId": "not-the-one"},
        headers={**bearer("crm"), "X-Request-Id": rid},
    )

    for response in (unknown, wrong):
        problem(response, 404, "not-found")
    # Byte for byte the same, once the path (instance) is put aside.
    assert unknown.content.replace(
        unknown.request.url.path.encode(), b"<instance>"
    ) == wrong.content.replace(wrong.request.url.path.encode(), b"<instance>")
    assert unknown.headers == wrong.headers


@pytest.mark.parametrize("state", ["locked", "not-issued"])
def test_no_cvc_for_a_locked_or_unissued_certificate(
    client: TestClient[Any],
    gcp: GiftCertificates,
    world: Any,
    bearer: Bearer,
    problem: Problem,
    state: str,
) -> None:
    cause = Cause("t", "t", "t")
    if state == "locked":
        gcp.execute(
            LockCertificate(
                certificate_id=world.certificate_id, reason="fraud", by="support", cause=cause
            )
        )
        certificate_id = world.certificate_id
    else:
        certificate_id = gcp.reservations.reserve_next(
            "default", channel="c", cause=cause
        ).certificate_id
    response = client.get(
        f"/certificates/{certificate_id}/cvc",
        params={"notificationId": world.notification_id},
        headers=bearer("crm"),
    )
    problem(response, 404, "not-found")


def test_the_cvc_endpoint_needs_the_notification_id(
    client: TestClient[Any], world: Any, bearer: Bearer, problem: Problem
) -> None:
    response = client.get(f"/certificates/{world.certificate_id}/cvc", headers=bearer("crm"))
    body = problem(response, 400, "invalid-request")
    assert body["errors"]


# ---------------------------------------------------------------------- notification results


def test_a_notification_result_is_recorded(
    client: TestClient[Any], world: Any, bearer: Bearer
) -> None:
    url = f"/certificates/{world.certificate_id}/notifications/{world.notification_id}"
    response = client.post(url, json={"result": "SENT", "error": None}, headers=bearer("crm"))
    again = client.post(url, json={"result": "SENT"}, headers=bearer("crm"))

    assert response.status_code == 200
    assert response.json()["status"] == "NOTIFICATION_SENT"
    assert response.json()["notification"]["status"] == "SENT"
    assert again.status_code == 200
    assert again.json()["version"] == response.json()["version"]


def test_a_failed_notification_carries_its_error(
    client: TestClient[Any], world: Any, bearer: Bearer
) -> None:
    url = f"/certificates/{world.certificate_id}/notifications/{world.notification_id}"
    response = client.post(
        url, json={"result": "FAILED", "error": "mailbox full"}, headers=bearer("crm")
    )
    assert response.status_code == 200
    assert response.json()["status"] == "NOTIFICATION_FAILED"
    assert response.json()["notification"]["error"] == "mailbox full"


def test_a_contradicting_result_is_409(
    client: TestClient[Any], world: Any, bearer: Bearer, problem: Problem
) -> None:
    url = f"/certificates/{world.certificate_id}/notifications/{world.notification_id}"
    client.post(url, json={"result": "SENT"}, headers=bearer("crm"))
    response = client.post(url, json={"result": "FAILED"}, headers=bearer("crm"))
    problem(response, 409, "transition-not-allowed")


@pytest.mark.parametrize(
    "body", [{"result": "MAYBE"}, {}, {"result": "SENT", "error": 5}, None, [1]]
)
def test_a_bad_notification_body_is_400(
    client: TestClient[Any], world: Any, bearer: Bearer, problem: Problem, body: Any
) -> None:
    url = f"/certificates/{world.certificate_id}/notifications/{world.notification_id}"
    problem(client.post(url, json=body, headers=bearer("crm")), 400, "invalid-request")


def test_a_result_for_an_unknown_notification_is_422(
    client: TestClient[Any], world: Any, bearer: Bearer, problem: Problem
) -> None:
    url = f"/certificates/{world.certificate_id}/notifications/nope"
    response = client.post(url, json={"result": "SENT"}, headers=bearer("crm"))
    problem(response, 422, "invalid-command")


# ---------------------------------------------------------------------- lock and unlock


def test_lock_and_unlock(
    client: TestClient[Any], gcp: GiftCertificates, world: Any, bearer: Bearer
) -> None:
    base = f"/certificates/{world.certificate_id}/actions"
    headers = {**bearer("support", sub="agent-7"), "X-Request-Id": "req-lock-1"}
    locked = client.post(f"{base}/lock", json={"reason": "fraud check"}, headers=headers)
    locked_again = client.post(f"{base}/lock", json={"reason": "again"}, headers=bearer("support"))

    assert locked.status_code == 200, locked.text
    assert locked.json()["status"] == "LOCKED"
    assert locked.json()["state"] == "LOCKED"
    assert locked.json()["lock"]["reason"] == "fraud check"
    assert locked.json()["lock"]["by"] == "agent-7"
    assert locked.json()["audit"]["updatedBy"] == "http:agent-7"
    assert locked.json()["audit"]["causationId"] == "req-lock-1"
    assert locked_again.status_code == 200
    assert locked_again.json()["version"] == locked.json()["version"]

    unlocked = client.post(f"{base}/unlock", json={"reason": "cleared"}, headers=bearer("support"))
    unlocked_again = client.post(f"{base}/unlock", headers=bearer("support"))
    assert unlocked.status_code == 200
    assert unlocked.json()["status"] == "ACTIVE"
    assert unlocked.json()["lock"] is None
    assert unlocked_again.status_code == 200
    assert unlocked_again.json()["version"] == unlocked.json()["version"]
    assert gcp.history(world.certificate_id)[-1].event == "Unlocked"


@pytest.mark.parametrize("body", [{}, {"reason": ""}, None, {"reason": 7}])
def test_lock_needs_a_reason(
    client: TestClient[Any], world: Any, bearer: Bearer, problem: Problem, body: Any
) -> None:
    response = client.post(
        f"/certificates/{world.certificate_id}/actions/lock", json=body, headers=bearer("support")
    )
    problem(response, 400, "invalid-request")


def test_a_blank_lock_reason_is_422(
    client: TestClient[Any], world: Any, bearer: Bearer, problem: Problem
) -> None:
    response = client.post(
        f"/certificates/{world.certificate_id}/actions/lock",
        json={"reason": "   "},
        headers=bearer("support"),
    )
    problem(response, 422, "invalid-command")


def test_locking_a_certificate_still_in_its_pool_is_409(
    client: TestClient[Any], gcp: GiftCertificates, bearer: Bearer, problem: Problem
) -> None:
    granted = gcp.reservations.reserve_next("default", channel="c", cause=Cause("t", "t", "t"))
    response = client.post(
        f"/certificates/{granted.certificate_id}/actions/lock",
        json={"reason": "x"},
        headers=bearer("support"),
    )
    problem(response, 409, "transition-not-allowed")


def test_lock_of_an_unknown_certificate_is_404(
    client: TestClient[Any], bearer: Bearer, problem: Problem
) -> None:
    response = client.post(
        f"/certificates/{uuid4()}/actions/lock", json={"reason": "x"}, headers=bearer("support")
    )
    problem(response, 404, "not-found")


# ---------------------------------------------------------------------- history and look-up


def test_history_lists_every_event_with_who_and_why(
    client: TestClient[Any], gcp: GiftCertificates, world: Any, bearer: Bearer
) -> None:
    response = client.get(
        f"/certificates/{world.certificate_id}/history", headers=bearer("support")
    )
    assert response.status_code == 200
    entries = response.json()
    assert entries == [entry.as_json() for entry in gcp.history(world.certificate_id)]
    assert [entry["event"] for entry in entries][:3] == ["Created", "Reserved", "Issued"]
    assert all({"actor", "causationId", "correlationId", "at"} <= set(e) for e in entries)
    assert "sealedCvc" not in response.text


def test_history_of_an_unknown_certificate_is_404(
    client: TestClient[Any], bearer: Bearer, problem: Problem
) -> None:
    response = client.get(f"/certificates/{uuid4()}/history", headers=bearer("support"))
    problem(response, 404, "not-found")


def test_find_by_number(
    client: TestClient[Any], gcp: GiftCertificates, world: Any, bearer: Bearer
) -> None:
    response = client.get(
        "/certificates", params={"number": world.number}, headers=bearer("support")
    )
    assert response.status_code == 200
    assert response.json()["certificateId"] == str(world.certificate_id)
    assert response.json() == gcp.current_object(world.certificate_id)


@pytest.mark.parametrize("number", ["7000000000000003", "1234", "not a number"])
def test_an_unknown_or_malformed_number_is_404(
    client: TestClient[Any], bearer: Bearer, problem: Problem, number: str
) -> None:
    response = client.get("/certificates", params={"number": number}, headers=bearer("support"))
    problem(response, 404, "not-found")
