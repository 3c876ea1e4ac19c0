"""Reserving the next certificate of a pool: what is recorded, and idempotency keys."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from tests.integration.certificates import notifications
from tests.integration.conftest import DURABLE
from tests.issuing import ADMIN, POOL

from gcp_app.application import GiftCertificates
from gcp_app.errors import PoolExhausted, ReservationLapsed
from gcp_app.reservation_desk import ReservationGranted
from gcp_app.use_cases import IssueCertificate, ReleaseReservation
from gcp_domain import (
    Cause,
    CertificateState,
    GiftCertificate,
    Money,
    Recipient,
    ReservationKey,
)
from gcp_domain.stream import rfc3339

S = CertificateState
WEB = Cause("channel:web", "req-next-1", "WEB-100045")


def reserved_events(app: GiftCertificates, certificate_id: UUID) -> int:
    return sum(
        isinstance(e, GiftCertificate.Reserved) for e in app.store.events.get(certificate_id)
    )


def all_reserved_events(app: GiftCertificates) -> int:
    return len(notifications(app, GiftCertificate.Reserved))


def test_the_reservation_records_by_until_and_order(app: GiftCertificates, clock: Any) -> None:
    app.pools.generate_certificates(POOL, 3, cause=ADMIN)

    granted = app.reservations.reserve_next(
        POOL, channel="WEB", order_id="WEB-100045", idempotency_key="k-1", cause=WEB
    )

    certificate = app.get_certificate(granted.certificate_id)
    until = clock.now() + app.settings.reservation_ttl
    assert app.settings.reservation_ttl == timedelta(minutes=15)
    assert granted.reserved_until == until
    assert granted.pool == POOL
    assert granted.number == certificate.number
    assert certificate.state is S.RESERVED
    assert certificate.reservation is not None
    assert certificate.reservation.by == "WEB"
    assert certificate.reservation.until == until
    assert certificate.reservation.order_id == "WEB-100045"
    assert certificate.reservation.idempotency_key == "k-1"
    assert app.current_object(granted.certificate_id)["reservation"] == {
        "by": "WEB",
        "until": rfc3339(until),
        "orderId": "WEB-100045",
    }
    entry = app.history(granted.certificate_id)[-1]
    assert entry.event == "Reserved"
    assert entry.details == {
        "reservedBy": "WEB",
        "reservedUntil": rfc3339(until),
        "idempotencyKey": "k-1",
        "orderId": "WEB-100045",
    }
    assert (entry.actor, entry.causation_id, entry.correlation_id) == (
        "channel:web",
        "req-next-1",
        "WEB-100045",
    )


def test_the_order_id_is_optional(app: GiftCertificates) -> None:
    app.pools.generate_certificates(POOL, 1, cause=ADMIN)

    granted = app.reservations.reserve_next(POOL, channel="POS", cause=WEB)

    reservation = app.get_certificate(granted.certificate_id).reservation
    assert reservation is not None
    assert reservation.order_id is None
    assert reservation.by == "POS"


def test_reservations_without_a_key_get_different_certificates(app: GiftCertificates) -> None:
    app.pools.generate_certificates(POOL, 5, cause=ADMIN)

    granted = [app.reservations.reserve_next(POOL, channel="WEB", cause=WEB) for _ in range(5)]

    assert len({g.certificate_id for g in granted}) == 5
    assert len({g.number for g in granted}) == 5
    assert app.pool_status(POOL).reserved == 5


def test_a_retry_with_the_same_key_gets_the_same_reservation(
    app: GiftCertificates, clock: Any
) -> None:
    app.pools.generate_certificates(POOL, 4, cause=ADMIN)
    first = app.reservations.reserve_next(POOL, channel="WEB", idempotency_key="retry-1", cause=WEB)
    clock.advance(timedelta(minutes=1))

    again = app.reservations.reserve_next(POOL, channel="WEB", idempotency_key="retry-1", cause=WEB)
    third = app.reservations.reserve_next(
        POOL, channel="WEB", order_id="WEB-2", idempotency_key="retry-1", cause=WEB
    )

    assert again == first
    assert third == first
    assert isinstance(again, ReservationGranted)
    assert reserved_events(app, first.certificate_id) == 1
    assert all_reserved_events(app) == 1
    assert app.pool_status(POOL).reserved == 1
    assert app.pool_status(POOL).available == 3
    key = app.store.repository.get(ReservationKey.create_id("WEB", "retry-1"))
    assert isinstance(key, ReservationKey)
    assert key.certificate_id == first.certificate_id


def test_the_same_key_on_different_channels_is_not_the_same_request(
    app: GiftCertificates,
) -> None:
    app.pools.generate_certificates(POOL, 4, cause=ADMIN)

    web = app.reservations.reserve_next(POOL, channel="WEB", idempotency_key="k", cause=WEB)
    pos = app.reservations.reserve_next(POOL, channel="POS", idempotency_key="k", cause=WEB)

    assert web.certificate_id != pos.certificate_id
    assert app.reservations.reserve_next(POOL, channel="WEB", idempotency_key="k", cause=WEB) == web
    assert app.reservations.reserve_next(POOL, channel="POS", idempotency_key="k", cause=WEB) == pos
    assert all_reserved_events(app) == 2


def test_a_retry_after_the_pool_ran_dry_still_gets_its_reservation(
    app: GiftCertificates,
) -> None:
    app.pools.generate_certificates(POOL, 1, cause=ADMIN)
    first = app.reservations.reserve_next(POOL, channel="WEB", idempotency_key="k", cause=WEB)

    assert (
        app.reservations.reserve_next(POOL, channel="WEB", idempotency_key="k", cause=WEB) == first
    )
    with pytest.raises(PoolExhausted):
        app.reservations.reserve_next(POOL, channel="WEB", idempotency_key="other", cause=WEB)


@DURABLE
def test_a_retry_after_a_restart_gets_the_same_reservation(
    app: GiftCertificates, make_app: Callable[[], GiftCertificates], clock: Any
) -> None:
    app.pools.generate_certificates(POOL, 4, cause=ADMIN)
    first = app.reservations.reserve_next(
        POOL, channel="WEB", order_id="WEB-1", idempotency_key="retry-1", cause=WEB
    )
    clock.advance(timedelta(seconds=30))

    restarted = make_app()
    again = restarted.reservations.reserve_next(
        POOL, channel="WEB", order_id="WEB-1", idempotency_key="retry-1", cause=WEB
    )

    assert again == first
    assert reserved_events(restarted, first.certificate_id) == 1
    assert all_reserved_events(restarted) == 1
    assert restarted.pool_status(POOL).reserved == 1
    # A new key on the restarted instance gets another certificate.
    other = restarted.reservations.reserve_next(
        POOL, channel="WEB", idempotency_key="retry-2", cause=WEB
    )
    assert other.certificate_id != first.certificate_id


def same_key_at_once(
    app: GiftCertificates, key: str, threads: int
) -> tuple[list[ReservationGranted], list[BaseException]]:
    barrier = threading.Barrier(threads)
    answers: list[ReservationGranted] = []
    failures: list[BaseException] = []

    def retry() -> None:
        barrier.wait()
        try:
            answers.append(
                app.reservations.reserve_next(POOL, channel="WEB", idempotency_key=key, cause=WEB)
            )
        except BaseException as error:
            failures.append(error)

    workers = [threading.Thread(target=retry) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return answers, failures


def test_concurrent_retries_with_one_key_get_one_reservation_and_lose_nothing(
    app: GiftCertificates,
) -> None:
    """Retries that race the first request all get its answer, and the candidates they picked
    on the way stay reservable (the pool index must not lose them)."""
    size, threads, rounds = 8, 6, 3
    app.pools.generate_certificates(POOL, size, cause=ADMIN)

    for round_ in range(rounds):
        answers, failures = same_key_at_once(app, f"key-{round_}", threads)
        assert failures == []
        assert len(answers) == threads
        assert len(set(answers)) == 1

    assert all_reserved_events(app) == rounds
    assert app.pool_status(POOL).available == size - rounds
    # Every certificate still available in the store can still be reserved.
    rest = {
        app.reservations.reserve_next(POOL, channel="POS", cause=WEB).certificate_id
        for _ in range(size - rounds)
    }
    assert len(rest) == size - rounds
    with pytest.raises(PoolExhausted):
        app.reservations.reserve_next(POOL, channel="POS", cause=WEB)


def test_a_released_certificate_can_be_reserved_again(app: GiftCertificates) -> None:
    app.pools.generate_certificates(POOL, 1, cause=ADMIN)
    first = app.reservations.reserve_next(POOL, channel="WEB", cause=WEB)
    app.execute(
        ReleaseReservation(certificate_id=first.certificate_id, reason="lapsed", cause=ADMIN)
    )

    second = app.reservations.reserve_next(POOL, channel="POS", order_id="POS-1", cause=WEB)

    assert second.certificate_id == first.certificate_id
    assert reserved_events(app, first.certificate_id) == 2
    reservation = app.get_certificate(second.certificate_id).reservation
    assert reservation is not None
    assert (reservation.by, reservation.order_id) == ("POS", "POS-1")


def test_a_key_whose_reservation_was_released_is_refused_not_answered(
    app: GiftCertificates,
) -> None:
    """The first answer would name a certificate that is back in the pool (or someone else's)."""
    app.pools.generate_certificates(POOL, 2, cause=ADMIN)
    first = app.reservations.reserve_next(POOL, channel="WEB", idempotency_key="k-9", cause=WEB)
    app.execute(
        ReleaseReservation(
            certificate_id=first.certificate_id, reason="RESERVATION_TIMEOUT", cause=ADMIN
        )
    )

    with pytest.raises(ReservationLapsed):
        app.reservations.reserve_next(POOL, channel="WEB", idempotency_key="k-9", cause=WEB)
    assert app.get_certificate(first.certificate_id).state is S.AVAILABLE
    assert app.reservations.reserve_next(POOL, channel="WEB", idempotency_key="k-10", cause=WEB)


def test_a_key_whose_certificate_was_issued_still_gets_its_answer(app: GiftCertificates) -> None:
    app.pools.generate_certificates(POOL, 2, cause=ADMIN)
    first = app.reservations.reserve_next(POOL, channel="WEB", idempotency_key="k-1", cause=WEB)
    app.execute(
        IssueCertificate(
            certificate_id=first.certificate_id,
            amount=Money.of("5000.00"),
            channel="WEB",
            order_id="WEB-100045",
            payment_ids=["PAY-77"],
            client_id="C-1",
            recipient=Recipient(name="Anna"),
            cause=WEB,
        )
    )
    assert (
        app.reservations.reserve_next(POOL, channel="WEB", idempotency_key="k-1", cause=WEB)
        == first
    )
