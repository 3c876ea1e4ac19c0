"""Issue 4's CVC rules over HTTP: once under concurrency, throttling and lock-out per caller
(never per certificate, contract 1.1), one answer for an unknown certificate and a wrong
notificationId, and a scan that the CVC reaches no log line, error body, stored event or stream
object.

The application's CVCs have 8 digits (conftest), so a search for one cannot match by chance.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from litestar.testing import TestClient

from gcp_app.application import GiftCertificates
from gcp_domain import GiftCertificate
from gcp_domain.stream import publication

from .conftest import Bearer, Problem

WINDOW = 900
MAX_FAILURES = 5


@pytest.fixture
def clock(gcp: GiftCertificates) -> Any:
    """The application's clock, fixed at the present and moved by hand (`advance`)."""
    clock: Any = gcp.clock
    clock.fix(datetime.now(UTC))
    return clock


def cvc_url(certificate_id: UUID | str) -> str:
    return f"/certificates/{certificate_id}/cvc"


def events_named(gcp: GiftCertificates, certificate_id: UUID, name: str) -> list[Any]:
    return [e for e in gcp.history(certificate_id) if e.event == name]


# ---------------------------------------------------------------------- once, under concurrency


@pytest.mark.parametrize("store_url", ["memory:", "sqlite"], indirect=True)
def test_of_20_concurrent_requests_exactly_one_gets_the_cvc(
    gcp: GiftCertificates, client: TestClient[Any], world: Any, bearer: Bearer
) -> None:
    params = {"notificationId": world.notification_id}
    headers = bearer("crm")
    start = threading.Barrier(20)
    answers: list[Any] = []
    lock = threading.Lock()

    def ask() -> None:
        start.wait()
        response = client.get(cvc_url(world.certificate_id), params=params, headers=headers)
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] + [410] * 19, [r.text for r in answers if r.status_code != 410]
    [won] = [r for r in answers if r.status_code == 200]
    cvc = won.json()["cvc"]
    assert all(cvc not in r.text for r in answers if r is not won)
    assert len(events_named(gcp, world.certificate_id, "CvcDisclosed")) == 1
    # 410s are no failures: nothing was throttled or locked out.
    assert events_named(gcp, world.certificate_id, "CvcLockedOut") == []


# ---------------------------------------------------------------------- throttling per certificate


def test_five_failures_lock_the_caller_out_and_record_it_once(
    gcp: GiftCertificates,
    client: TestClient[Any],
    world: Any,
    bearer: Bearer,
    problem: Problem,
    clock: Any,
) -> None:
    url = cvc_url(world.certificate_id)
    for attempt in range(MAX_FAILURES):
        wrong = client.get(
            url,
            params={"notificationId": f"guess-{attempt}"},
            headers={**bearer("crm", sub="crm-a"), "X-Request-Id": f"guess-{attempt}"},
        )
        problem(wrong, 404, "not-found")
        clock.advance(timedelta(seconds=1))

    [locked_out] = events_named(gcp, world.certificate_id, "CvcLockedOut")
    assert locked_out.details == {"attempts": MAX_FAILURES, "windowSeconds": WINDOW}
    assert locked_out.actor == "http:crm-a"
    assert locked_out.causation_id == f"guess-{MAX_FAILURES - 1}"

    # Now every request of crm-a is refused, with the right notificationId too.
    for _ in range(2):
        right = {"notificationId": world.notification_id}
        refused = client.get(url, params=right, headers=bearer("crm", sub="crm-a"))
        body = problem(refused, 429, "cvc-throttled")
        assert int(refused.headers["Retry-After"]) == WINDOW - 1
        assert str(world.certificate_id) not in body["detail"]
    # Recorded once per lock-out, however many refusals follow; nothing published.
    assert len(events_named(gcp, world.certificate_id, "CvcLockedOut")) == 1
    assert gcp.current_object(world.certificate_id)["status"] == "NOTIFICATION_REQUESTED"

    clock.advance(timedelta(seconds=WINDOW - 2))
    refused = client.get(url, params={"notificationId": "x"}, headers=bearer("crm", sub="crm-a"))
    assert refused.status_code == 429
    clock.advance(timedelta(seconds=1))
    wrong_again = client.get(
        url, params={"notificationId": "x"}, headers=bearer("crm", sub="crm-a")
    )
    assert wrong_again.status_code == 404  # the lock-out is over


def test_a_caller_locked_out_does_not_keep_the_cvc_from_another(
    client: TestClient[Any], world: Any, bearer: Bearer, problem: Problem
) -> None:
    """Issue 11, item 4: five wrong notificationIds from one caller made the real CRM's
    request, with the right one, a 429 for 15 minutes."""
    url = cvc_url(world.certificate_id)
    prober = bearer("crm", sub="prober")
    for attempt in range(MAX_FAILURES):
        client.get(url, params={"notificationId": f"guess-{attempt}"}, headers=prober)
    problem(client.get(url, params={"notificationId": "y"}, headers=prober), 429, "cvc-throttled")

    granted = client.get(
        url, params={"notificationId": world.notification_id}, headers=bearer("crm", sub="crm")
    )
    assert granted.status_code == 200, granted.text


def test_failures_outside_the_window_do_not_add_up(
    gcp: GiftCertificates, client: TestClient[Any], world: Any, bearer: Bearer, clock: Any
) -> None:
    url = cvc_url(world.certificate_id)
    for _ in range(3 * MAX_FAILURES):
        response = client.get(url, params={"notificationId": "guess"}, headers=bearer("crm"))
        assert response.status_code == 404
        clock.advance(timedelta(seconds=WINDOW // (MAX_FAILURES - 1) + 1))
    assert events_named(gcp, world.certificate_id, "CvcLockedOut") == []


def test_a_second_lockout_after_the_window_is_recorded_again(
    gcp: GiftCertificates, client: TestClient[Any], world: Any, bearer: Bearer, clock: Any
) -> None:
    url = cvc_url(world.certificate_id)
    for _round in range(2):
        statuses = [
            client.get(url, params={"notificationId": "guess"}, headers=bearer("crm")).status_code
            for _ in range(MAX_FAILURES + 2)
        ]
        assert statuses == [404] * MAX_FAILURES + [429, 429]
        clock.advance(timedelta(seconds=WINDOW))
    assert len(events_named(gcp, world.certificate_id, "CvcLockedOut")) == 2


def test_repeated_410s_are_not_failures(
    client: TestClient[Any], world: Any, bearer: Bearer, clock: Any
) -> None:
    params = {"notificationId": world.notification_id}
    url = cvc_url(world.certificate_id)
    assert client.get(url, params=params, headers=bearer("crm")).status_code == 200
    statuses = {
        client.get(url, params=params, headers=bearer("crm")).status_code for _ in range(10)
    }
    assert statuses == {410}


# ---------------------------------------------------------------------- throttling per client


def test_a_client_with_too_many_failures_is_refused_everywhere(
    gcp: GiftCertificates,
    client: TestClient[Any],
    world: Any,
    bearer: Bearer,
    problem: Problem,
    clock: Any,
) -> None:
    limit = gcp.settings.cvc_max_failures
    prober = bearer("crm", sub="prober")
    for _ in range(limit):
        # Each on another (unknown) certificate: no certificate reaches its own limit.
        response = client.get(cvc_url(uuid4()), params={"notificationId": "x"}, headers=prober)
        problem(response, 404, "not-found")

    refused = client.get(
        cvc_url(world.certificate_id),
        params={"notificationId": world.notification_id},
        headers=prober,
    )
    problem(refused, 429, "cvc-throttled")
    assert int(refused.headers["Retry-After"]) == WINDOW
    # Another client is not affected, and the certificate was never locked out.
    granted = client.get(
        cvc_url(world.certificate_id),
        params={"notificationId": world.notification_id},
        headers=bearer("crm", sub="crm-prod"),
    )
    assert granted.status_code == 200
    assert events_named(gcp, world.certificate_id, "CvcLockedOut") == []


# ---------------------------------------------------------------------- one answer


def test_unknown_certificate_and_wrong_notification_answer_alike_through_the_lockout(
    gcp: GiftCertificates, client: TestClient[Any], world: Any, bearer: Bearer, clock: Any
) -> None:
    unknown_id = uuid4()

    def probe(certificate_id: UUID, sub: str) -> list[Any]:
        return [
            client.get(
                cvc_url(certificate_id),
                params={"notificationId": "not-the-one"},
                headers={**bearer("crm", sub=sub), "X-Request-Id": f"probe-{attempt}"},
            )
            for attempt in range(MAX_FAILURES + 2)
        ]

    unknown = probe(unknown_id, "crm-1")
    wrong = probe(world.certificate_id, "crm-2")

    assert [r.status_code for r in unknown] == [404] * MAX_FAILURES + [429, 429]
    for one, other in zip(unknown, wrong, strict=True):
        assert one.status_code == other.status_code
        assert one.content.replace(str(unknown_id).encode(), b"<id>") == other.content.replace(
            str(world.certificate_id).encode(), b"<id>"
        )
        assert one.headers == other.headers
    # The fact is recorded on the real certificate; the unknown id leaves no trace in the store.
    assert len(events_named(gcp, world.certificate_id, "CvcLockedOut")) == 1
    assert list(gcp.store.events.get(unknown_id)) == []


# ---------------------------------------------------------------------- the CVC goes nowhere else


def test_the_cvc_appears_only_in_the_one_200_body(
    gcp: GiftCertificates,
    client: TestClient[Any],
    bearer: Bearer,
    issue: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
    clock: Any,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)  # restored after the test
    bodies: list[str] = []

    def call(method: str, url: str, **kwargs: Any) -> Any:
        response = client.request(method, url, **kwargs)
        bodies.append(f"{response.status_code} {dict(response.headers)} {response.text}")
        return response

    crm = bearer("crm")
    call("GET", "/certificates/next", params={"orderId": "WEB-9"}, headers=bearer("channel"))
    issued = issue("WEB-10")
    url = cvc_url(issued.certificate_id)
    call("GET", url, params={"notificationId": "early-guess"}, headers=crm)
    disclosed = client.get(url, params={"notificationId": issued.notification_id}, headers=crm)
    assert disclosed.status_code == 200
    cvc = disclosed.json()["cvc"]
    assert len(cvc) == 8
    assert cvc.isdigit()
    call("GET", url, params={"notificationId": issued.notification_id}, headers=crm)  # 410
    call(
        "POST",
        f"/certificates/{issued.certificate_id}/notifications/{issued.notification_id}",
        json={"result": "FAILED", "error": "mailbox full"},
        headers=crm,
    )
    for attempt in range(MAX_FAILURES + 3):
        call("GET", url, params={"notificationId": f"guess-{attempt}"}, headers=crm)
    call("GET", url, params={"notificationId": issued.notification_id}, headers=crm)  # 429
    call("GET", cvc_url(uuid4()), params={"notificationId": "x"}, headers=crm)
    call("GET", f"/certificates/{issued.certificate_id}", headers=crm)
    call("GET", f"/certificates/{issued.certificate_id}/history", headers=bearer("support"))
    call("GET", "/certificates/", params={"number": issued.number}, headers=bearer("support"))
    assert len(events_named(gcp, issued.certificate_id, "CvcLockedOut")) == 1

    logged = [
        f"{r.name} {r.levelname} {r.getMessage()} {r.args!r} {r.exc_text or ''}"
        for r in caplog.records
    ]
    assert logged, "nothing was logged: the scan would prove nothing"
    stored: list[str] = []
    published: list[str] = []
    aggregates: dict[UUID, Any] = {}
    for notification in gcp.store.recorder.select_notifications(start=1, limit=1_000_000):
        stored.append(notification.state.decode("utf-8", "replace"))
        stored.append(notification.topic)
        event = gcp.store.mapper.to_domain_event(notification)
        aggregate = event.mutate(aggregates.get(notification.originator_id))
        aggregates[notification.originator_id] = aggregate
        message = publication(aggregate, event)
        if message is not None:
            published.append(json.dumps([message.key, message.headers, message.value]))
    assert any(GiftCertificate.CvcLockedOut.TOPIC in s for s in stored)
    assert published

    for where, texts in (
        ("log", logged),
        ("HTTP answer", bodies),
        ("stored event", stored),
        ("stream", published),
    ):
        leaked = [text for text in texts if cvc in text]
        assert leaked == [], f"the CVC is in a {where}: {leaked[:1]}"
    assert disclosed.text.count(cvc) == 1
