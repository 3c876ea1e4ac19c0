"""The whole role matrix of the contract's table: each role on each endpoint.

An admitted role gets its answer (2xx), any other role 403, no token 401, all as problem
details. `admin` is not a super-role: it is admitted exactly where the table names it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from litestar.testing import TestClient

from .conftest import ROLES, SECRET, Bearer, Problem

# (method, path template, JSON body, admitted roles, success status), as in CONTRACTS.md.
ENDPOINTS: list[tuple[str, str, Any, frozenset[str], int]] = [
    ("GET", "/certificates/next?pool=default&orderId=WEB-9", None, frozenset({"channel"}), 200),
    ("GET", "/certificates/{id}", None, frozenset({"channel", "crm", "support"}), 200),
    ("GET", "/certificates/{id}/cvc?notificationId={nid}", None, frozenset({"crm"}), 200),
    (
        "POST",
        "/certificates/{id}/notifications/{nid}",
        {"result": "SENT", "error": None},
        frozenset({"crm"}),
        200,
    ),
    (
        "POST",
        "/certificates/{id}/actions/lock",
        {"reason": "fraud check"},
        frozenset({"support"}),
        200,
    ),
    ("POST", "/certificates/{id}/actions/unlock", {"reason": "ok"}, frozenset({"support"}), 200),
    ("GET", "/certificates/{id}/history", None, frozenset({"support"}), 200),
    ("GET", "/certificates?number={number}", None, frozenset({"support"}), 200),
    ("POST", "/pools/default/certificates", {"count": 2}, frozenset({"admin"}), 201),
    ("GET", "/pools/default", None, frozenset({"admin", "support"}), 200),
]


def support(**times: datetime) -> dict[str, Any]:
    """The claims of support agent x, with `times` (exp, iat) if given."""
    return {"sub": "x", "roles": ["support"], **times}


def signed(claims: dict[str, Any], *, secret: str = SECRET, algorithm: str = "HS256") -> str:
    """A token made by hand, signed with the API's secret unless told otherwise."""
    return jwt.encode(claims, secret, algorithm=algorithm)


def authorization(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


CASES = [
    pytest.param(method, path, body, admitted, success, caller, id=f"{method} {path} as {caller}")
    for method, path, body, admitted, success in ENDPOINTS
    for caller in (*ROLES, None)
]


@pytest.mark.parametrize(("method", "path", "body", "admitted", "success", "caller"), CASES)
def test_role_matrix(
    client: TestClient[Any],
    world: Any,
    bearer: Bearer,
    problem: Problem,
    method: str,
    path: str,
    body: Any,
    admitted: frozenset[str],
    success: int,
    caller: str | None,
) -> None:
    url = path.format(id=world.certificate_id, nid=world.notification_id, number=world.number)
    headers = bearer(caller) if caller else {}
    response = client.request(method, url, json=body, headers=headers)
    if caller is None:
        problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
    elif caller in admitted:
        assert response.status_code == success, response.text
    else:
        body_ = problem(response, 403, "forbidden")
        assert caller not in body_["detail"].split(" or ")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("not-a-jwt", id="garbage"),
        pytest.param(
            signed(
                support(exp=datetime.now(UTC) + timedelta(hours=1)),
                secret="another-secret-of-enough-length-0123456789-0123456789abcdefghijklmnop",
            ),
            id="wrong-secret",
        ),
        pytest.param(signed(support(exp=datetime.now(UTC) - timedelta(minutes=5))), id="expired"),
        pytest.param(signed(support()), id="no-expiry"),
        pytest.param(
            signed(support(exp=datetime.now(UTC) + timedelta(hours=1))), id="no-issued-at"
        ),
        pytest.param(
            signed(support(exp=datetime.now(UTC) + timedelta(hours=1)), algorithm="HS512"),
            id="other-algorithm",
        ),
        pytest.param(
            signed(
                {
                    "sub": "x",
                    "iat": datetime.now(UTC),
                    "exp": datetime.now(UTC) + timedelta(hours=1),
                }
            ),
            id="no-roles-claim",  # issue 11, item 5: it was 403
        ),
    ],
)
def test_an_invalid_token_is_401(
    client: TestClient[Any], world: Any, problem: Problem, token: str
) -> None:
    response = client.get(
        f"/certificates/{world.certificate_id}/history", headers=authorization(token)
    )
    problem(response, 401, "unauthorized")


def test_a_valid_token_with_no_known_role_is_403(
    client: TestClient[Any], world: Any, problem: Problem
) -> None:
    now = datetime.now(UTC)
    token = signed(
        {"sub": "x", "roles": ["superuser"], "iat": now, "exp": now + timedelta(hours=1)}
    )
    response = client.get(f"/certificates/{world.certificate_id}", headers=authorization(token))
    problem(response, 403, "forbidden")


def test_a_token_with_several_roles_is_admitted_by_any_of_them(
    client: TestClient[Any], world: Any, bearer: Bearer
) -> None:
    headers = bearer("admin", "crm")
    assert client.get("/pools/default", headers=headers).status_code == 200
    cvc = client.get(
        f"/certificates/{world.certificate_id}/cvc",
        params={"notificationId": world.notification_id},
        headers=headers,
    )
    assert cvc.status_code == 200


def test_a_remembered_token_is_refused_once_it_expires(
    client: TestClient[Any], world: Any, problem: Problem
) -> None:
    """Verified tokens are remembered (RememberingJWTMiddleware), but only until their exp."""
    now = datetime.now(UTC)
    headers = authorization(signed(support(iat=now, exp=now + timedelta(seconds=1))))
    path = f"/certificates/{world.certificate_id}"
    assert client.get(path, headers=headers).status_code == 200
    assert client.get(path, headers=headers).status_code == 200  # from memory
    time.sleep(max((now + timedelta(seconds=1.2) - datetime.now(UTC)).total_seconds(), 0))
    problem(client.get(path, headers=headers), 401, "unauthorized")


def test_a_remembered_token_vouches_for_no_other_token(
    client: TestClient[Any], world: Any, problem: Problem
) -> None:
    """The same claims under another signature are checked in full, not taken from memory."""
    now = datetime.now(UTC)
    claims = support(iat=now, exp=now + timedelta(hours=1))
    good = signed(claims)
    forged = signed(claims, secret=SECRET + "-not-ours")
    path = f"/certificates/{world.certificate_id}"
    assert client.get(path, headers=authorization(good)).status_code == 200
    problem(client.get(path, headers=authorization(forged)), 401, "unauthorized")
