"""The HTTP API on the SQLite and PostgreSQL stores: a reservation and a CVC, end to end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from litestar.testing import TestClient

from gcp_app.application import GiftCertificates

from .conftest import SQLITE_AND_POSTGRES, Bearer

pytestmark = SQLITE_AND_POSTGRES


def test_reserve_then_disclose_the_cvc_once(
    client: TestClient[Any],
    gcp: GiftCertificates,
    bearer: Bearer,
    issue: Callable[..., Any],
) -> None:
    reserved = client.get(
        "/certificates/next", params={"orderId": "WEB-7"}, headers=bearer("channel")
    )
    assert reserved.status_code == 200
    assert gcp.get_certificate(UUID(reserved.json()["certificateId"])).state.value == "RESERVED"

    issued = issue("WEB-8")
    url = f"/certificates/{issued.certificate_id}/cvc"
    params = {"notificationId": issued.notification_id}
    assert client.get(url, params=params, headers=bearer("crm")).status_code == 200
    assert client.get(url, params=params, headers=bearer("crm")).status_code == 410


def test_readiness_asks_the_store(client: TestClient[Any]) -> None:
    assert client.get("/health/ready").json() == {"status": "ok", "checks": {"store": "ok"}}
