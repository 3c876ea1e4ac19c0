"""The reading desk: GET /certificates/{id}'s reads grouped into one query, on every store.

A group must answer each read as `current_object` would alone (in the order asked, an unknown
id refused on its own), and grouping must never serve a stale state: a read asked after a
write was answered sees that write.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID, uuid4

import pytest
from tests.integration.certificates import SUPPORT
from tests.issuing import ADMIN, POOL, issue_reserved

from gcp_app import state_objects as state_objects_module
from gcp_app.application import GiftCertificates
from gcp_app.errors import CertificateNotFound
from gcp_app.state_objects import state_objects
from gcp_app.use_cases import LockCertificate, UnlockCertificate
from gcp_domain.cause import Cause
from gcp_domain.pool import pool_id


def issued(app: GiftCertificates, order_id: str) -> UUID:
    granted = app.reservations.reserve_next(
        POOL, channel="WEB", order_id=order_id, cause=Cause("channel:web", order_id, order_id)
    )
    assert issue_reserved(app, granted.certificate_id, order_id, amount="500.00")
    return granted.certificate_id


@pytest.fixture
def two(app: GiftCertificates) -> tuple[UUID, UUID]:
    app.pools.generate_certificates(POOL, 4, cause=ADMIN)
    return issued(app, "WEB-1"), issued(app, "WEB-2")


def test_a_group_answers_each_read_in_the_order_asked(
    app: GiftCertificates, two: tuple[UUID, UUID]
) -> None:
    first, second = two
    unknown = uuid4()
    answers = state_objects(app.store, [second, unknown, first, second, pool_id(POOL)])
    assert answers[0] == answers[3] == app.current_object(second)
    assert answers[2] == app.current_object(first)
    # Neither an unknown id nor another aggregate's (the pool's) is a certificate.
    assert isinstance(answers[1], CertificateNotFound)
    assert isinstance(answers[4], CertificateNotFound)


def test_a_certificate_that_cannot_be_shown_fails_only_its_own_reads(
    app: GiftCertificates, two: tuple[UUID, UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two
    shown = state_objects_module.state_object

    def state_object(events: Any) -> dict[str, Any]:
        if events[0].originator_id == first:
            raise ValueError("an event this version cannot read")
        return shown(events)

    monkeypatch.setattr(state_objects_module, "state_object", state_object)
    answers = state_objects(app.store, [first, second])
    assert isinstance(answers[0], ValueError)
    assert answers[1] == app.current_object(second)


def test_reads_see_every_write_answered_before_they_were_asked(
    app: GiftCertificates, two: tuple[UUID, UUID]
) -> None:
    """A writer locks and unlocks a certificate; readers ask the desk all the while. Each
    answer's version is at least the version of the last write answered before the read was
    asked: a group's query starts after its reads arrive, never before."""
    certificate_id, _ = two
    answered: int = app.get_certificate(certificate_id).version
    lock = threading.Lock()
    done = threading.Event()

    def write() -> None:
        nonlocal answered
        try:
            for n in range(30):
                command: Any = (LockCertificate if n % 2 == 0 else UnlockCertificate)(
                    certificate_id=certificate_id, reason=f"check {n}", by="support:olga",
                    cause=SUPPORT,
                )  # fmt: skip
                app.execute(command)
                version = app.get_certificate(certificate_id).version
                with lock:
                    answered = version
        finally:
            done.set()

    def read() -> list[tuple[int, int]]:
        seen: list[tuple[int, int]] = []
        while not done.is_set():
            with lock:
                floor = answered
            seen.append((floor, app.reading_desk.ask(certificate_id)["version"]))
        return seen

    with ThreadPoolExecutor(5) as pool:
        readers = [pool.submit(read) for _ in range(4)]
        pool.submit(write).result()
        pairs = [pair for reader in readers for pair in reader.result()]

    assert pairs, "no read was made while the writes ran"
    assert all(version >= floor for floor, version in pairs), [
        pair for pair in pairs if pair[1] < pair[0]
    ]
    assert app.reading_desk.ask(certificate_id)["version"] == answered
