"""Schemathesis against the OpenAPI document the service serves, in process (ASGI).

Every operation of `/schema/openapi.json` is called with generated requests (valid and
invalid ones) and every answer is checked: never a 5xx, the status code documented for the
operation, the body and content type matching what the document declares, refusals as
`application/problem+json`. Nothing is excluded.

The app runs over an in-memory store with a stocked pool: some certificates available, some
reserved, some issued with an open notification request (one of them locked). Generated
certificate ids, notification ids, printed numbers and pool names are swapped, now and then,
for these known ones, so the handlers' success paths are exercised too, not only `404`.

Each request carries a token with all four roles (so the role guards never hide a handler);
a second run sends no token at all, where every guarded operation must answer a documented
`401`. Examples are bounded per operation so the file stays well under a minute.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from litestar import Litestar
from schemathesis.specs.openapi.schemas import OpenApiSchema

from gcp_adapters.http import create_http_app, mint_token
from gcp_adapters.http.auth import SECURITY_SCHEME as BEARER_SCHEME
from gcp_app.application import GiftCertificates
from gcp_app.use_cases import LockCertificate

from .conftest import POOL, ROLES, SECRET, SETUP, issue_one, open_app

EXAMPLES = 50
BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
PROBLEM = "application/problem+json"


@attrs.frozen
class Known:
    """Identifiers that exist in the store, to swap into generated requests."""

    certificate_ids: list[str]
    notification_ids: list[str]
    numbers: list[str]
    pools: list[str]


@attrs.frozen
class World:
    app: Litestar
    known: Known


def load_schema(token: str | None) -> OpenApiSchema:
    """The document, read at collection time (schemathesis parametrizes then) from an app over
    a throw-away store; the tests call the `stocked` fixture's app instead (`app=`).

    With `token`, schemathesis sends it as the bearer token of every operation that declares
    the scheme (and knows it did, so it does not count the header as generated data).
    A schema-valid request may still be refused by a business rule: `positive_data_acceptance`
    admits the documented refusals (404, 409, 410, 422 problem details, and 429: generated
    CVC requests fail often enough to trip the CVC throttling) but not 400, which is
    Litestar's validation saying no to what the document says is valid.
    """
    data: dict[str, Any] = {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "410", "422", "429"]
            }
        }
    }
    if token is not None:
        data["auth"] = {"openapi": {BEARER_SCHEME: {"bearer": token}}}
    with tempfile.TemporaryDirectory() as var:
        gcp = open_app(Path(var))
        try:
            return schemathesis.openapi.from_asgi(
                "/schema/openapi.json",
                create_http_app(gcp, jwt_secret=SECRET),
                config=schemathesis.Config.from_dict(data),
            )
        finally:
            gcp.close()


# (Not `schemathesis.pytest.from_fixture`: its lazy schema breaks on pytest 9.)
TOKEN = mint_token(SECRET, "schemathesis", ROLES, timedelta(hours=1))
schema = load_schema(TOKEN)
anonymous = load_schema(None)


@pytest.fixture(scope="module")
def stocked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    gcp: GiftCertificates = open_app(tmp_path_factory.mktemp("schemathesis"))
    gcp.pools.generate_certificates(POOL, 40, cause=SETUP)
    issued = [issue_one(gcp, order_id=f"WEB-{n}") for n in range(4)]
    gcp.execute(
        LockCertificate(
            certificate_id=issued[-1].certificate_id,
            reason="fraud check",
            by="support",
            cause=SETUP,
        )
    )
    reserved = [
        gcp.reservations.reserve_next(
            POOL, channel="dev-channel", order_id=f"WEB-R{n}", cause=SETUP
        )
        for n in range(3)
    ]
    known = Known(
        certificate_ids=[str(c.certificate_id) for c in [*issued, *reserved]],
        notification_ids=[i.notification_id for i in issued],
        numbers=[c.number for c in [*issued, *reserved]],
        pools=[POOL],
    )
    yield World(create_http_app(gcp, jwt_secret=SECRET), known)
    gcp.close()


def tame_count(case: Any) -> None:
    """Two adjustments of `POST /pools/{pool}/certificates` bodies, neither changing whether a
    case is valid:

    - a valid `count` (1 to 100,000) creates that many certificates, and 100,000 take some
      13 s: more than this file's budget and schemathesis' 10 s client timeout (a timed-out
      call keeps running beside the next ones and they conflict on the pool). A valid count
      stays valid, only smaller (1 to 50). Large runs are test_pools.py's and the CLI's job.
    - a string `count` is invalid for the document (an integer), but the service reads a
      numeric string as a number on purpose (docs/http.md, decision 7: `{"count": "10"}` is
      10), so a generated `"1"` or `"1e1"` would be "accepted invalid data". It gets a letter
      in front: still a string, still invalid, no longer read as a number.
    """
    body = case.body
    if not isinstance(body, dict) or "count" not in body:
        return
    count = body["count"]
    if isinstance(count, str):
        body["count"] = "x" + count
    elif (
        isinstance(count, int | float)
        and not isinstance(count, bool)
        and count == int(count)
        and 50 < count <= 100_000
    ):
        body["count"] = int(count) % 50 + 1


def swap_known(case: Any, known: Known, data: st.DataObject) -> None:
    """Now and then, a known identifier in place of a generated one (valid requests only:
    an invalid one must stay invalid)."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    choices = {
        "id": known.certificate_ids,
        "notificationId": known.notification_ids,
        "pool": known.pools,
    }
    for name, values in choices.items():
        if (case.path_parameters or {}).get(name) is not None and data.draw(st.booleans()):
            case.path_parameters[name] = data.draw(st.sampled_from(values))
    query = case.query if isinstance(case.query, dict) else None
    if query is not None and data.draw(st.booleans()):
        if "notificationId" in query:
            query["notificationId"] = data.draw(st.sampled_from(known.notification_ids))
        if "number" in query:
            query["number"] = data.draw(st.sampled_from(known.numbers))
        if "pool" in query:
            query["pool"] = data.draw(st.sampled_from(known.pools))


def check_problem(case: Any, response: Any) -> None:
    status = response.status_code
    # No 5xx at all: not even /health/ready's 503, the store here always answers.
    assert status < 500, f"{case.method} {case.formatted_path} answered {status}: {response.text}"
    if status >= 400:
        content_type = response.headers.get("content-type", [""])
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith(PROBLEM), (status, content_type, response.text)
        body = response.json()
        assert body["status"] == status
        assert body["type"].startswith("urn:gcp:problem:")


@schema.parametrize()
@schema.given(data=st.data())
@BOUNDED
def test_every_operation_with_every_role(case: Any, data: st.DataObject, stocked: World) -> None:
    tame_count(case)
    swap_known(case, stocked.known, data)
    response = case.call_and_validate(app=stocked.app)
    check_problem(case, response)


@anonymous.parametrize()
@settings(BOUNDED, max_examples=10)
def test_every_operation_without_a_token(case: Any, stocked: World) -> None:
    tame_count(case)
    response = case.call_and_validate(app=stocked.app)
    check_problem(case, response)
    # A valid request to a guarded operation is refused for want of a token. (An invalid one
    # may be refused earlier: a path id that is not a UUID matches no route, 404.)
    guarded = case.operation.definition.raw.get("security") not in (None, [{}])
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if guarded and positive and case.method.upper() == case.operation.method.upper():
        assert response.status_code == 401, (case.method, response.text)
