"""What holds across the API: request ids, problem details, the OpenAPI document, health, and
the CVC kept out of every log line and every problem body."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from litestar.testing import TestClient

from gcp_adapters.http.problems import EVERY_TYPE, TYPE_PREFIX
from gcp_app.application import GiftCertificates
from gcp_app.desk import Desk

from .conftest import Bearer, Problem

# Every endpoint of the contract's table, written as the contract writes it (OpenAPI paths),
# with the parameters the contract names: (name, in) in the document's order.
CONTRACT_PARAMETERS = {
    ("get", "/certificates/next"): [
        ("pool", "query"),
        ("orderId", "query"),
        ("Idempotency-Key", "header"),
    ],
    ("get", "/certificates/{id}"): [("id", "path")],
    ("get", "/certificates/{id}/cvc"): [("id", "path"), ("notificationId", "query")],
    ("post", "/certificates/{id}/notifications/{notificationId}"): [
        ("id", "path"),
        ("notificationId", "path"),
        ("Idempotency-Key", "header"),
    ],
    ("post", "/certificates/{id}/actions/lock"): [("id", "path"), ("Idempotency-Key", "header")],
    ("post", "/certificates/{id}/actions/unlock"): [
        ("id", "path"),
        ("Idempotency-Key", "header"),
    ],
    ("get", "/certificates/{id}/history"): [("id", "path")],
    ("get", "/certificates"): [("number", "query")],
    ("post", "/pools/{pool}/certificates"): [("pool", "path"), ("Idempotency-Key", "header")],
    ("get", "/pools/{pool}"): [("pool", "path")],
}
CONTRACT_ENDPOINTS = set(CONTRACT_PARAMETERS)
HEALTH = {("get", "/health/live"), ("get", "/health/ready")}


# ---------------------------------------------------------------------- request ids


def test_a_well_formed_request_id_is_echoed_and_becomes_the_causation_id(
    client: TestClient[Any], gcp: GiftCertificates, world: Any, bearer: Bearer
) -> None:
    response = client.post(
        f"/certificates/{world.certificate_id}/actions/lock",
        json={"reason": "fraud check"},
        headers={**bearer("support", sub="agent-1"), "X-Request-Id": "trace:abc-123_4.5"},
    )
    assert response.headers["x-request-id"] == "trace:abc-123_4.5"
    locked = gcp.history(world.certificate_id)[-1]
    assert (locked.event, locked.actor, locked.causation_id, locked.correlation_id) == (
        "Locked",
        "http:agent-1",
        "trace:abc-123_4.5",
        "trace:abc-123_4.5",
    )


@pytest.mark.parametrize("incoming", ["", "has space", "x" * 129, "semi;colon", "é".encode()])
def test_a_malformed_request_id_is_replaced_by_a_uuid(
    client: TestClient[Any], bearer: Bearer, incoming: str | bytes
) -> None:
    response = client.get("/pools/default", headers={**bearer("admin"), "X-Request-Id": incoming})
    assert response.status_code == 200
    echoed = response.headers["x-request-id"]
    assert echoed != incoming
    assert str(UUID(echoed)) == echoed


def test_every_answer_carries_a_request_id(client: TestClient[Any], bearer: Bearer) -> None:
    answers = [
        client.get("/health/live"),
        client.get("/no/such/route"),
        client.get("/pools/default"),  # 401, refused before any handler
        client.get("/pools/default", headers=bearer("channel")),  # 403
        client.get("/schema/openapi.json"),
    ]
    ids = [answer.headers["x-request-id"] for answer in answers]
    assert len(set(ids)) == len(ids)
    for answer in answers[1:4]:
        assert answer.json()["requestId"] == answer.headers["x-request-id"]


# ---------------------------------------------------------------------- problem details


def test_an_unknown_route_and_a_wrong_method(
    client: TestClient[Any], world: Any, bearer: Bearer, problem: Problem
) -> None:
    problem(client.get("/nowhere", headers=bearer("admin")), 404, "route-not-found")
    response = client.delete(f"/certificates/{world.certificate_id}", headers=bearer("support"))
    problem(response, 405, "method-not-allowed")
    assert "GET" in response.headers["allow"]


def test_an_unexpected_error_is_500_internal_and_tells_nothing(
    client: TestClient[Any],
    gcp: GiftCertificates,
    world: Any,
    bearer: Bearer,
    problem: Problem,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(*_: Any) -> Any:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(gcp, "reading_desk", Desk(explode, name="reading", max_group=8, clerks=1))
    with caplog.at_level(logging.ERROR, logger="gcp.http"):
        response = client.get(f"/certificates/{world.certificate_id}", headers=bearer("crm"))
    body = problem(response, 500, "internal")
    assert "hunter2" not in response.text
    assert body["requestId"] in caplog.text  # The log has the cause, under the request id.


def test_every_problem_type_is_a_stable_urn() -> None:
    uris = [problem.uri for problem in EVERY_TYPE]
    assert len(set(uris)) == len(uris)
    for uri in uris:
        assert re.fullmatch(re.escape(TYPE_PREFIX) + r"[a-z][a-z0-9-]*", uri), uri


# ---------------------------------------------------------------------- the CVC stays secret


def test_the_cvc_is_never_logged(
    client: TestClient[Any], world: Any, bearer: Bearer, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"/certificates/{world.certificate_id}/cvc"
    params = {"notificationId": world.notification_id}
    with caplog.at_level(logging.DEBUG):
        first = client.get(url, params=params, headers=bearer("crm"))
        second = client.get(url, params=params, headers=bearer("crm"))
        lock = client.post(
            f"/certificates/{world.certificate_id}/actions/lock",
            json={"reason": "x"},
            headers=bearer("support"),
        )
        after_lock = client.get(url, params=params, headers=bearer("crm"))
    cvc = first.json()["cvc"]

    assert caplog.records, "nothing was logged at DEBUG: the test would prove nothing"
    for record in caplog.records:
        assert cvc not in record.getMessage()
        assert cvc not in str(record.args)
    assert cvc not in caplog.text
    for response in (second, lock, after_lock):
        assert cvc not in response.text
    assert second.status_code == 410
    assert after_lock.status_code in {404, 410}  # already disclosed wins over locked


# ---------------------------------------------------------------------- OpenAPI


def test_the_openapi_document_lists_every_endpoint_with_its_security(
    client: TestClient[Any],
) -> None:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "GCP"
    assert document["info"]["version"]
    operations = {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert set(operations) == CONTRACT_ENDPOINTS | HEALTH
    scheme = document["components"]["securitySchemes"]["BearerToken"]
    assert (scheme["type"], scheme["scheme"].lower(), scheme["bearerFormat"]) == (
        "http",
        "bearer",
        "JWT",
    )
    for key in CONTRACT_ENDPOINTS:
        operation = operations[key]
        assert operation["security"] == [{"BearerToken": []}], key
        for status in ("401", "403"):
            problem = operation["responses"][status]["content"]["application/problem+json"]
            assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}, key
    for key in HEALTH:
        assert operations[key]["security"] == [{}], key


def test_the_documented_state_object_names_the_fields_it_has(
    client: TestClient[Any], gcp: GiftCertificates, world: Any
) -> None:
    document = client.get("/schema/openapi.json").json()
    documented = document["components"]["schemas"]["CertificateObject"]["properties"]
    assert set(documented) == set(gcp.current_object(world.certificate_id))
    operation = document["paths"]["/certificates/{id}"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/CertificateObject"}
    money = documented["remainingBalance"]
    assert "string" in str(money)


def test_the_openapi_document_names_paths_and_parameters_as_the_contract_does(
    client: TestClient[Any],
) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    named = {
        (method, path): [(p["name"], p["in"]) for p in operation.get("parameters", [])]
        for path, item in paths.items()
        for method, operation in item.items()
        if (method, path) in CONTRACT_ENDPOINTS
    }
    assert named == CONTRACT_PARAMETERS
    for (method, path), parameters in named.items():
        in_template = re.findall(r"{([^}]+)}", path)
        assert [name for name, where in parameters if where == "path"] == in_template
        for parameter in paths[path][method]["parameters"]:
            if parameter["in"] == "path":
                assert parameter["required"] is True, (method, path, parameter)
            if parameter["name"] == "id":
                assert parameter["schema"] == {"type": "string", "format": "uuid"}, (method, path)


def test_every_post_declares_an_optional_idempotency_key(client: TestClient[Any]) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    posts = {path: item["post"] for path, item in paths.items() if "post" in item}
    assert set(posts) == {path for method, path in CONTRACT_ENDPOINTS if method == "post"}
    for path, operation in posts.items():
        [key] = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert key["in"] == "header", path
        assert key["required"] is False, path
        assert key["schema"] == {"type": "string", "minLength": 1, "maxLength": 200}, path
        assert "422" in key["description"], path
        assert "422" in operation["responses"], path  # the key sent again with another body


def test_the_openapi_document_needs_no_token(client: TestClient[Any]) -> None:
    assert client.get("/schema/openapi.json").status_code == 200


# ---------------------------------------------------------------------- health


def test_liveness_and_readiness_need_no_token(client: TestClient[Any]) -> None:
    live = client.get("/health/live")
    ready = client.get("/health/ready")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ok", "checks": {"store": "ok"}})


def test_readiness_is_503_when_a_check_fails(
    make_client: Callable[..., TestClient[Any]], caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise ConnectionError("kafka at 10.0.0.1:9092 refused")

    client = make_client(readiness={"store": lambda: None, "kafka": broken})
    with caplog.at_level(logging.ERROR):
        response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"store": "ok", "kafka": "failing"},
    }
    assert "10.0.0.1" not in response.text
    assert "kafka" in caplog.text
