"""Idempotency-Key: on every POST (a stored answer, replayed) and on GET /certificates/next
(the reservation's own key claim). Same key and request: same answer, no second effect; same key,
another request: 422; keys are per token subject and outlive a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from gcp_adapters.http import create_http_app
from gcp_app.application import GiftCertificates
from gcp_app.idempotency import AnsweredRequest
from gcp_domain.certificate import GiftCertificate
from gcp_domain.pool import CertificatePool, pool_id

from .conftest import SECRET, SETUP, Bearer, Issued, Problem, open_app


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def batches_added(gcp: GiftCertificates, pool: str) -> int:
    return sum(
        isinstance(e, CertificatePool.CertificatesAdded)
        for e in gcp.store.events.get(pool_id(pool))
    )


def answered(gcp: GiftCertificates) -> int:
    found = gcp.store.recorder.select_notifications(
        start=1, limit=100_000, topics=[AnsweredRequest.Answered.TOPIC]
    )
    return len(found)


def test_pool_generation_twice_with_one_key_creates_once(
    client: TestClient[Any], gcp: GiftCertificates, bearer: Bearer
) -> None:
    headers = keyed(bearer("admin", sub="ops"), "gen-1")

    first = client.post("/pools/spring/certificates", json={"count": 3}, headers=headers)
    again = client.post("/pools/spring/certificates", content=b'{ "count" : 3 }', headers=headers)

    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.headers["content-type"].startswith("application/json")
    assert again.headers["x-request-id"]  # The replay has its own request id.
    assert gcp.pool_status("spring").available == 3
    assert batches_added(gcp, "spring") == 1
    assert answered(gcp) == 1


def test_without_a_key_nothing_is_recorded(
    client: TestClient[Any], gcp: GiftCertificates, bearer: Bearer
) -> None:
    for _ in range(2):
        response = client.post(
            "/pools/spring/certificates", json={"count": 2}, headers=bearer("admin")
        )
        assert response.status_code == 201
    assert gcp.pool_status("spring").available == 4
    assert answered(gcp) == 0


def test_the_notification_result_is_recorded_once(
    client: TestClient[Any], gcp: GiftCertificates, world: Issued, bearer: Bearer
) -> None:
    path = f"/certificates/{world.certificate_id}/notifications/{world.notification_id}"
    headers = keyed(bearer("crm"), "note-1")

    first = client.post(path, json={"result": "SENT", "error": None}, headers=headers)
    again = client.post(path, json={"error": None, "result": "SENT"}, headers=headers)

    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    sent = [
        e
        for e in gcp.store.events.get(world.certificate_id)
        if isinstance(e, GiftCertificate.NotificationSent)
    ]
    assert len(sent) == 1


def test_the_same_key_with_another_body_is_422(
    client: TestClient[Any], gcp: GiftCertificates, bearer: Bearer, problem: Problem
) -> None:
    headers = keyed(bearer("admin"), "gen-2")
    assert (
        client.post("/pools/spring/certificates", json={"count": 2}, headers=headers).status_code
        == 201
    )

    response = client.post("/pools/spring/certificates", json={"count": 5}, headers=headers)

    problem(response, 422, "idempotency-key-reused")
    assert gcp.pool_status("spring").available == 2


def test_a_business_refusal_is_replayed_and_a_bad_request_is_not_kept(
    client: TestClient[Any], gcp: GiftCertificates, bearer: Bearer, problem: Problem
) -> None:
    headers = keyed(bearer("admin"), "bad-pool")
    path = "/pools/no%20spaces/certificates"
    first = problem(client.post(path, json={"count": 1}, headers=headers), 422, "invalid-command")
    again = client.post(path, json={"count": 1}, headers=headers)
    assert again.status_code == 422
    assert again.json() == first
    assert again.headers["idempotent-replayed"] == "true"

    # A 400 (never reached a rule) is not kept: the corrected request may use the same key.
    headers = keyed(bearer("admin"), "fixed-later")
    problem(
        client.post("/pools/spring/certificates", json={"count": 0}, headers=headers),
        400,
        "invalid-request",
    )
    fixed = client.post("/pools/spring/certificates", json={"count": 1}, headers=headers)
    assert fixed.status_code == 201
    assert answered(gcp) == 2


def test_keys_are_per_subject(
    client: TestClient[Any], gcp: GiftCertificates, bearer: Bearer
) -> None:
    one = client.post(
        "/pools/spring/certificates",
        json={"count": 1},
        headers=keyed(bearer("admin", sub="ops-1"), "shared"),
    )
    two = client.post(
        "/pools/spring/certificates",
        json={"count": 2},
        headers=keyed(bearer("admin", sub="ops-2"), "shared"),
    )
    assert one.status_code == two.status_code == 201
    assert "idempotent-replayed" not in two.headers
    assert gcp.pool_status("spring").available == 3


def test_a_bad_key_is_400(client: TestClient[Any], bearer: Bearer, problem: Problem) -> None:
    response = client.post(
        "/pools/spring/certificates",
        json={"count": 1},
        headers=keyed(bearer("admin"), "k" * 201),
    )
    problem(response, 400, "invalid-request")


def test_keys_outlive_a_restart(tmp_path: Path, bearer: Bearer) -> None:
    url = f"sqlite:///{tmp_path / 'gcp.sqlite'}"
    headers = keyed(bearer("admin", sub="ops"), "gen-restart")

    first_app = open_app(tmp_path, url)
    try:
        with TestClient(create_http_app(first_app, jwt_secret=SECRET)) as client:
            first = client.post("/pools/spring/certificates", json={"count": 2}, headers=headers)
            assert first.status_code == 201
    finally:
        first_app.close()

    second_app = open_app(tmp_path, url)
    try:
        with TestClient(create_http_app(second_app, jwt_secret=SECRET)) as client:
            again = client.post("/pools/spring/certificates", json={"count": 2}, headers=headers)
            other = client.post("/pools/spring/certificates", json={"count": 9}, headers=headers)
        assert again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert other.status_code == 422
        assert second_app.pool_status("spring").available == 2
    finally:
        second_app.close()


def test_reserving_again_with_one_key_and_another_query_is_422(
    client: TestClient[Any], gcp: GiftCertificates, bearer: Bearer, problem: Problem
) -> None:
    gcp.pools.generate_certificates("spring", 2, cause=SETUP)
    headers = keyed(bearer("channel"), "order-1")
    first = client.get("/certificates/next?pool=default&orderId=WEB-9", headers=headers)
    assert first.status_code == 200, first.text

    again = client.get("/certificates/next?orderId=WEB-9", headers=headers)
    assert again.json() == first.json()

    problem(
        client.get("/certificates/next?pool=spring&orderId=WEB-9", headers=headers),
        422,
        "idempotency-key-reused",
    )
    problem(
        client.get("/certificates/next?pool=default&orderId=WEB-10", headers=headers),
        422,
        "idempotency-key-reused",
    )
    # orderId is only recorded: a retry without it is no other request.
    assert client.get("/certificates/next", headers=headers).json() == first.json()
    assert gcp.pool_status("default").reserved == 1
    assert gcp.pool_status("spring").available == 2
