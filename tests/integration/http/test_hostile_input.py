"""Hostile and careless input over HTTP (issue 11, item 5): each case gets its documented answer,
never a 500, and a normal request still works afterwards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gcp_adapters.http.problems import MAX_BODY_BYTES
from gcp_app.application import GiftCertificates
from gcp_domain import Cause
from gcp_domain.errors import InvalidCommand, InvalidMoney
from gcp_domain.money import Money

ADMIN = Cause("admin:ops", "req", "req")


def lock(client: Any, world: Any, headers: dict[str, str], **kwargs: Any) -> Any:
    path = f"/certificates/{world.certificate_id}/actions/lock"
    return client.post(path, headers=headers, **kwargs)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"reason": "fraud check"}'),
        ("application/xml", b"<lock><reason>fraud check</reason></lock>"),
        ("application/x-www-form-urlencoded", b"reason=fraud+check"),
    ],
)
def test_a_body_that_is_not_declared_json_is_415(
    client: Any,
    world: Any,
    bearer: Callable[..., Any],
    problem: Callable[..., Any],
    content_type: str,
    body: bytes,
) -> None:
    support = {**bearer("support"), "Content-Type": content_type}
    problem(lock(client, world, support, content=body), 415, "unsupported-media-type")
    # Nothing happened, and the same request as JSON is taken.
    assert lock(client, world, bearer("support"), json={"reason": "fraud check"}).status_code == 200


def test_json_nested_a_thousand_levels_is_400_not_500(
    client: Any, world: Any, bearer: Callable[..., Any], problem: Callable[..., Any]
) -> None:
    deep = b'{"reason": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    headers = {**bearer("support"), "Content-Type": "application/json"}
    problem(lock(client, world, headers, content=deep), 400, "invalid-request")
    assert lock(client, world, bearer("support"), json={"reason": "fraud check"}).status_code == 200


@pytest.mark.parametrize(
    "reason",
    ["\x00\x00", "\u200b\u200b", "\x1b[31mred", "line\r\nbreak", "\u202egnp.exe", "\u2066x"],
    ids=["nul", "zero-width", "esc", "crlf", "rlo", "isolate"],
)
def test_a_lock_reason_with_control_or_invisible_characters_is_refused(
    client: Any, world: Any, bearer: Callable[..., Any], problem: Callable[..., Any], reason: str
) -> None:
    problem(lock(client, world, bearer("support"), json={"reason": reason}), 422, "invalid-command")
    fine = lock(client, world, bearer("support"), json={"reason": "fraud: ticket 7"})
    assert fine.status_code == 200


@pytest.mark.parametrize("name", ["..", ".hidden", "-x", "a b", "x" * 65, "пул"])
def test_a_pool_name_outside_the_documented_pattern_is_refused(
    gcp: GiftCertificates, name: str
) -> None:
    with pytest.raises(InvalidCommand, match="pool name"):
        gcp.pools.create_pool(name, cause=ADMIN)
    assert gcp.pools.create_pool("spring-2027.web_1", cause=ADMIN)


@pytest.mark.parametrize("currency", ["ZZZ", "XXX", "XTS"])
def test_money_is_in_an_iso_4217_currency(currency: str) -> None:
    with pytest.raises(InvalidMoney, match="ISO 4217"):
        Money.of("10.00", currency)
    assert Money.of("10.00", "EUR").currency == "EUR"


def test_a_json_key_given_twice_is_refused(
    client: Any, world: Any, bearer: Callable[..., Any], problem: Callable[..., Any]
) -> None:
    headers = {**bearer("support"), "Content-Type": "application/json"}
    twice = b'{"reason": "fraud check", "reason": ""}'
    body = problem(lock(client, world, headers, content=twice), 400, "invalid-request")
    assert body["errors"] == [{"message": "the JSON body names the key reason more than once"}]
    assert (
        client.get(f"/certificates/{world.certificate_id}", headers=bearer("support")).json()[
            "state"
        ]
        == "ACTIVE"
    )


def test_a_query_parameter_given_twice_is_refused(
    client: Any, bearer: Callable[..., Any], problem: Callable[..., Any]
) -> None:
    channel = bearer("channel")
    twice = client.get("/certificates/next?pool=default&pool=other", headers=channel)
    assert problem(twice, 400, "invalid-request")["errors"] == [
        {"message": "query parameter pool is given more than once"}
    ]
    assert client.get("/certificates/next?pool=default", headers=channel).status_code == 200


@pytest.mark.parametrize(
    "body",
    [b'{"reason": "fraud', b'{"reason": "\xff\xfe"}', b"", b"[]", b"null"],
    ids=["cut", "not-utf8", "empty", "array", "null"],
)
def test_a_body_that_is_no_json_object_is_invalid_request(
    client: Any,
    world: Any,
    bearer: Callable[..., Any],
    problem: Callable[..., Any],
    body: bytes,
) -> None:
    """Issue 11: malformed JSON and invalid UTF-8 answered an undocumented `http-400`."""
    headers = {**bearer("support"), "Content-Type": "application/json"}
    problem(lock(client, world, headers, content=body), 400, "invalid-request")
    assert lock(client, world, bearer("support"), json={"reason": "fraud check"}).status_code == 200


def test_a_body_over_the_limit_is_413_body_too_large(
    client: Any, world: Any, bearer: Callable[..., Any], problem: Callable[..., Any]
) -> None:
    """Issue 11: a 10 MB body answered an undocumented `http-413`."""
    headers = {**bearer("support"), "Content-Type": "application/json"}
    huge = b'{"reason": "' + b"x" * MAX_BODY_BYTES + b'"}'
    found = problem(lock(client, world, headers, content=huge), 413, "body-too-large")
    assert "bytes" in found["detail"]
    assert lock(client, world, bearer("support"), json={"reason": "fraud check"}).status_code == 200
