"""The pool endpoints: generate (admin, 201 when done) and levels (admin, support)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

from gcp_app.application import GiftCertificates

Bearer = Callable[..., dict[str, str]]
Problem = Callable[..., dict[str, Any]]


def test_generate_creates_certificates_and_answers_the_levels(
    client: TestClient[Any], gcp: GiftCertificates, bearer: Bearer
) -> None:
    response = client.post(
        "/pools/spring/certificates",
        json={"count": 25},
        headers={**bearer("admin", sub="ops"), "X-Request-Id": "req-gen-1"},
    )

    assert response.status_code == 201, response.text
    assert response.json() == {
        "pool": "spring",
        "created": 25,
        "levels": {
            "pool": "spring",
            "available": 25,
            "reserved": 0,
            "issued": 0,
            "cancelled": 0,
            "lowWatermark": gcp.settings.pool_low_watermark,
        },
    }
    assert gcp.pool_status("spring").available == 25


def test_levels(client: TestClient[Any], gcp: GiftCertificates, world: Any, bearer: Bearer) -> None:
    response = client.get("/pools/default", headers=bearer("support"))
    assert response.status_code == 200
    assert response.json() == {
        "pool": "default",
        "available": 4,
        "reserved": 0,
        "issued": 1,
        "cancelled": 0,
        "lowWatermark": gcp.settings.pool_low_watermark,
    }


@pytest.mark.parametrize(
    "body", [{"count": 0}, {"count": -1}, {"count": 100_001}, {"count": "ten"}, {}, None]
)
def test_a_bad_count_is_400(
    client: TestClient[Any], bearer: Bearer, problem: Problem, body: Any
) -> None:
    response = client.post("/pools/default/certificates", json=body, headers=bearer("admin"))
    problem(response, 400, "invalid-request")


def test_a_bad_pool_name_is_422(client: TestClient[Any], bearer: Bearer, problem: Problem) -> None:
    response = client.post(
        "/pools/no%20spaces%20here/certificates", json={"count": 1}, headers=bearer("admin")
    )
    problem(response, 422, "invalid-command")


def test_levels_of_an_unknown_pool_is_404(
    client: TestClient[Any], bearer: Bearer, problem: Problem
) -> None:
    problem(client.get("/pools/nope", headers=bearer("admin")), 404, "pool-not-found")
