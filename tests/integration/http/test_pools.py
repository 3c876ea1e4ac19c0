"""The pool endpoints: generate (admin, 201 when done) and levels (admin, support)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from gcp_app.application import GiftCertificates

from .conftest import Bearer, Problem


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


def test_a_pool_created_by_generate_takes_the_low_watermark_given(
    client: TestClient[Any], gcp: GiftCertificates, bearer: Bearer
) -> None:
    body = {"count": 2, "lowWatermark": 5}
    created = client.post("/pools/small/certificates", json=body, headers=bearer("admin"))
    again = client.post(
        "/pools/small/certificates", json={"count": 1, "lowWatermark": 50}, headers=bearer("admin")
    )

    assert created.status_code == again.status_code == 201, again.text
    assert created.json()["levels"]["lowWatermark"] == 5
    assert again.json()["levels"]["lowWatermark"] == 5  # an existing pool keeps its own
    assert gcp.pool_status("small").low_watermark == 5


@pytest.mark.parametrize(
    "body",
    [
        {"count": "1e3"},
        {"count": "5"},
        {"count": 5.5},
        {"count": True},
        {"count": 1, "lowWatermark": -1},
        {"count": 1, "lowWatermark": "5"},
    ],
)
def test_numbers_are_json_integers_not_text_or_floats(
    client: TestClient[Any], gcp: GiftCertificates, bearer: Bearer, problem: Problem, body: Any
) -> None:
    """Issue 11: `{"count": "1e3"}` created 1,000 certificates."""
    response = client.post("/pools/strict/certificates", json=body, headers=bearer("admin"))
    problem(response, 400, "invalid-request")
    assert "strict" not in gcp.pool_names()


def test_a_number_with_no_fraction_is_an_integer_as_in_json_schema(
    client: TestClient[Any], bearer: Bearer
) -> None:
    response = client.post(
        "/pools/round/certificates",
        content=b'{"count": 2.0}',
        headers={**bearer("admin"), "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["created"] == 2
