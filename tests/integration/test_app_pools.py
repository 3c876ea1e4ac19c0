"""Pools: generating certificates, the levels, running low (POOL_LOW) and dry (ISSUE_BLOCKED),
and finding numbers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError
from tests.integration.certificates import all_topics, notifications, originator_ids
from tests.integration.conftest import DURABLE
from tests.issuing import ADMIN

from gcp_app.application import GiftCertificates
from gcp_app.errors import PoolExhausted, PoolNotFound
from gcp_app.reservation_desk import ReservationRequest
from gcp_app.stock import draw_number
from gcp_app.use_cases import CancelCertificate, IssueCertificate, ReleaseReservation
from gcp_domain import Cause, CertificatePool, GiftCertificate, Money, Recipient
from gcp_domain.errors import InvalidCommand
from gcp_domain.numbers import luhn_valid

WEB = Cause("channel:web", "req-next", "WEB-1")


def certificates_of(app: GiftCertificates, pool: str) -> list[GiftCertificate]:
    found = [app.get_certificate(i) for i in originator_ids(app, GiftCertificate.Created)]
    return [c for c in found if c.pool == pool]


def levels(app: GiftCertificates, pool: str) -> tuple[int, int, int, int]:
    status = app.pool_status(pool)
    return status.available, status.reserved, status.issued, status.cancelled


def test_generated_numbers_are_unique_luhn_valid_16_digits(app: GiftCertificates) -> None:
    assert app.pools.generate_certificates("default", 300, cause=ADMIN) == 300

    certificates = certificates_of(app, "default")
    numbers = [c.number for c in certificates]

    assert len(certificates) == 300
    assert len(set(numbers)) == 300
    for number in numbers:
        assert len(number) == 16
        assert number.isascii()
        assert number.isdigit()
        assert number[0] != "0"
        assert luhn_valid(number)
    assert len({c.sealed_cvc for c in certificates}) == 300
    assert all(c.state == "AVAILABLE" for c in certificates)
    assert levels(app, "default") == (300, 0, 0, 0)


def test_generation_runs_in_batches_and_reports_progress(app: GiftCertificates) -> None:
    progress: list[int] = []

    done = app.pools.generate_certificates(
        "default", 20, cause=ADMIN, progress=progress.append, batch_size=7
    )

    assert done == 20
    assert progress == [7, 7, 6]
    added = [t for t in all_topics(app) if t == CertificatePool.CertificatesAdded.TOPIC]
    assert len(added) == 3
    assert app.pool_status("default").available == 20


def test_generation_refuses_a_bad_count_or_pool_name(app: GiftCertificates) -> None:
    with pytest.raises(ValueError, match="positive"):
        app.pools.generate_certificates("default", 0, cause=ADMIN)
    with pytest.raises(InvalidCommand):
        app.pools.generate_certificates("no spaces", 1, cause=ADMIN)
    assert app.pool_names() == []


def test_pools_are_created_once_with_their_low_watermark(app: GiftCertificates) -> None:
    assert app.pools.create_pool("gifts", low_watermark=5, cause=ADMIN)
    assert not app.pools.create_pool("gifts", low_watermark=50, cause=ADMIN)
    app.pools.generate_certificates("gifts", 4, cause=ADMIN)
    app.pools.generate_certificates("default", 2, cause=ADMIN)

    gifts = app.pool_status("gifts")

    assert gifts.low_watermark == 5
    assert gifts.below_low_watermark
    assert app.pool_status("default").low_watermark == 100  # the setting's default
    assert app.pool_names() == ["default", "gifts"]
    app.pools.generate_certificates("gifts", 1, cause=ADMIN)
    assert not app.pool_status("gifts").below_low_watermark


def test_levels_move_with_reserve_issue_release_and_cancel(app: GiftCertificates) -> None:
    app.pools.generate_certificates("default", 10, cause=ADMIN)
    reserved = [
        app.reservations.reserve_next("default", channel="WEB", cause=WEB).certificate_id
        for _ in range(3)
    ]
    assert levels(app, "default") == (7, 3, 0, 0)

    app.execute(
        IssueCertificate(
            certificate_id=reserved[0],
            amount=Money.of("100.00"),
            channel="WEB",
            order_id="WEB-1",
            payment_ids=["PAY-1"],
            client_id=None,
            recipient=Recipient(),
            cause=WEB,
        )
    )
    assert levels(app, "default") == (7, 2, 1, 0)

    app.execute(ReleaseReservation(certificate_id=reserved[1], reason="lapsed", cause=WEB))
    assert levels(app, "default") == (8, 1, 1, 0)

    app.execute(CancelCertificate(certificate_id=reserved[0], reason="ORDER_CANCELLED", cause=WEB))
    assert levels(app, "default") == (8, 1, 0, 1)

    never_handed_out = next(c.id for c in certificates_of(app, "default") if c.state == "AVAILABLE")
    app.execute(CancelCertificate(certificate_id=never_handed_out, reason="misprint", cause=ADMIN))
    assert levels(app, "default") == (7, 1, 0, 2)

    status = app.pool_status("default")
    assert status.pool == "default"
    assert status.available + status.reserved + status.issued + status.cancelled == 10


def test_an_unknown_pool_is_not_found(app: GiftCertificates) -> None:
    app.pools.generate_certificates("default", 1, cause=ADMIN)

    with pytest.raises(PoolNotFound):
        app.pool_status("nowhere")
    with pytest.raises(PoolNotFound):
        app.reservations.reserve_next("nowhere", channel="WEB", cause=WEB)
    assert CertificatePool.IssueBlocked.TOPIC not in all_topics(app)


def test_an_exhausted_pool_blocks_once_per_shortage(app: GiftCertificates, clock: Any) -> None:
    app.pools.generate_certificates("default", 3, cause=ADMIN)
    for _ in range(3):
        app.reservations.reserve_next("default", channel="WEB", cause=WEB)

    for _ in range(25):
        with pytest.raises(PoolExhausted):
            app.reservations.reserve_next("default", channel="WEB", cause=WEB)

    blocked = notifications(app, CertificatePool.IssueBlocked)
    assert len(blocked) == 1
    event = app.store.mapper.to_domain_event(blocked[0])
    assert isinstance(event, CertificatePool.IssueBlocked)
    assert event.reason == "POOL_EXHAUSTED"
    assert event.blocked_at == clock.now()
    assert event.cause == WEB
    assert levels(app, "default") == (0, 3, 0, 0)

    # Still short a while later: published again, once.
    clock.advance(timedelta(minutes=2))
    for _ in range(5):
        with pytest.raises(PoolExhausted):
            app.reservations.reserve_next("default", channel="WEB", cause=WEB)
    assert all_topics(app).count(CertificatePool.IssueBlocked.TOPIC) == 2


def test_stocking_an_exhausted_pool_lets_reservations_work_again(
    app: GiftCertificates,
) -> None:
    app.pools.generate_certificates("default", 1, cause=ADMIN)
    first = app.reservations.reserve_next("default", channel="WEB", cause=WEB)
    with pytest.raises(PoolExhausted):
        app.reservations.reserve_next("default", channel="WEB", cause=WEB)

    app.pools.generate_certificates("default", 2, cause=ADMIN)
    later = [app.reservations.reserve_next("default", channel="WEB", cause=WEB) for _ in range(2)]

    assert len({first.certificate_id, *(g.certificate_id for g in later)}) == 3
    assert levels(app, "default") == (0, 3, 0, 0)
    # A new shortage (after the refill) is a new fact: published again at once.
    with pytest.raises(PoolExhausted):
        app.reservations.reserve_next("default", channel="WEB", cause=WEB)
    assert all_topics(app).count(CertificatePool.IssueBlocked.TOPIC) == 2


def test_two_pools_never_share_a_number_and_keep_their_own_levels(
    app: GiftCertificates,
) -> None:
    app.pools.generate_certificates("web", 150, cause=ADMIN)
    app.pools.generate_certificates("pos", 150, cause=ADMIN)

    web = {c.number for c in certificates_of(app, "web")}
    pos = {c.number for c in certificates_of(app, "pos")}
    granted = app.reservations.reserve_next("pos", channel="POS", cause=WEB)

    assert len(web) == len(pos) == 150
    assert not web & pos
    assert granted.pool == "pos"
    assert granted.number in pos
    assert levels(app, "web") == (150, 0, 0, 0)
    assert levels(app, "pos") == (149, 1, 0, 0)


def test_find_by_number_works_across_pools(app: GiftCertificates) -> None:
    app.pools.generate_certificates("web", 5, cause=ADMIN)
    app.pools.generate_certificates("pos", 5, cause=ADMIN)
    everyone = certificates_of(app, "web") + certificates_of(app, "pos")
    known = {c.number for c in everyone}
    unknown = next(n.value for n in iter(draw_number, None) if n.value not in known)

    for certificate in everyone:
        assert app.find_by_number(certificate.number) == certificate.id
    printed = everyone[-1].number
    spaced = " ".join(printed[i : i + 4] for i in range(0, 16, 4))
    assert app.find_by_number(spaced) == everyone[-1].id
    assert app.find_by_number(f"{printed[:4]}-{printed[4:]}") == everyone[-1].id
    assert app.find_by_number(unknown) is None


@DURABLE
def test_a_second_instance_sees_the_same_pools(
    app: GiftCertificates, make_app: Callable[[], GiftCertificates]
) -> None:
    app.pools.generate_certificates("default", 6, cause=ADMIN)
    other = make_app()

    assert other.pool_status("default") == app.pool_status("default")
    mine = {
        app.reservations.reserve_next("default", channel="WEB", cause=WEB).certificate_id
        for _ in range(2)
    }
    theirs = {
        other.reservations.reserve_next("default", channel="POS", cause=WEB).certificate_id
        for _ in range(4)
    }

    assert not mine & theirs
    assert levels(app, "default") == levels(other, "default") == (0, 6, 0, 0)
    with pytest.raises(PoolExhausted):
        app.reservations.reserve_next("default", channel="WEB", cause=WEB)
    with pytest.raises(PoolExhausted):
        other.reservations.reserve_next("default", channel="POS", cause=WEB)


@pytest.mark.parametrize("malformed", ["", "1234", "4000 1234 1234 123X", "1234567890123456"])
def test_a_malformed_number_is_simply_not_found(app: GiftCertificates, malformed: str) -> None:
    assert app.find_by_number(malformed) is None


def pool_events(app: GiftCertificates) -> list[Any]:
    """The pool's RanLow and Replenished events, in the order they were stored."""
    wanted = notifications(app, CertificatePool.RanLow, CertificatePool.Replenished)
    return [app.store.mapper.to_domain_event(n) for n in wanted]


def test_pool_low_once_when_reservations_take_a_pool_below_its_watermark(
    app: GiftCertificates,
) -> None:
    app.pools.create_pool("default", low_watermark=3, cause=ADMIN)
    app.pools.generate_certificates("default", 5, cause=ADMIN)
    for _ in range(2):  # 5 -> 3 available: at the watermark, not below it
        app.reservations.reserve_next("default", channel="WEB", cause=WEB)
    assert pool_events(app) == []

    app.reservations.reserve_next("default", channel="WEB", cause=WEB)  # 2 left
    app.reservations.reserve_next("default", channel="WEB", cause=WEB)  # 1 left: no news

    [ran_low] = pool_events(app)
    assert isinstance(ran_low, CertificatePool.RanLow)
    assert (ran_low.available, ran_low.low_watermark) == (2, 3)
    assert ran_low.cause == WEB


def test_pool_low_again_only_after_a_restock_to_the_watermark(app: GiftCertificates) -> None:
    app.pools.create_pool("default", low_watermark=3, cause=ADMIN)
    app.pools.generate_certificates("default", 3, cause=ADMIN)
    app.reservations.reserve_next("default", channel="WEB", cause=WEB)  # 2: POOL_LOW
    app.pools.generate_certificates("default", 1, cause=ADMIN)  # 3: replenished
    app.pools.generate_certificates("default", 1, cause=ADMIN)  # 4: nothing more to say
    assert [type(e) for e in pool_events(app)] == [
        CertificatePool.RanLow,
        CertificatePool.Replenished,
    ]
    app.reservations.reserve_next("default", channel="WEB", cause=WEB)  # 3
    app.reservations.reserve_next("default", channel="WEB", cause=WEB)  # 2: news again

    events = pool_events(app)
    assert [type(e) for e in events] == [
        CertificatePool.RanLow,
        CertificatePool.Replenished,
        CertificatePool.RanLow,
    ]
    assert events[1].available == 3


def test_a_reservation_given_back_is_no_restock(app: GiftCertificates) -> None:
    app.pools.create_pool("default", low_watermark=2, cause=ADMIN)
    app.pools.generate_certificates("default", 2, cause=ADMIN)
    granted = app.reservations.reserve_next("default", channel="WEB", cause=WEB)  # 1: POOL_LOW
    app.execute(
        ReleaseReservation(
            certificate_id=granted.certificate_id, reason="PAYMENT_FAILED", cause=WEB
        )
    )  # 2 available again
    app.reservations.reserve_next("default", channel="WEB", cause=WEB)  # 1 again: same shortage

    assert [type(e) for e in pool_events(app)] == [CertificatePool.RanLow]


def test_reservations_through_the_desk_report_pool_low(app: GiftCertificates) -> None:
    app.pools.create_pool("default", low_watermark=5, cause=ADMIN)
    app.pools.generate_certificates("default", 6, cause=ADMIN)
    for _ in range(3):
        app.reservation_desk.reserve(
            ReservationRequest("default", "WEB", WEB, order_id=None, idempotency_key=None)
        )

    [ran_low] = pool_events(app)
    assert ran_low.available in {3, 4}  # the desk may serve the requests as one group


@DURABLE
def test_two_instances_report_one_pool_low_for_one_shortage(
    app: GiftCertificates, make_app: Callable[[], GiftCertificates]
) -> None:
    app.pools.create_pool("default", low_watermark=4, cause=ADMIN)
    app.pools.generate_certificates("default", 6, cause=ADMIN)
    other = make_app()
    for instance in (app, other, app, other, app):
        instance.reservations.reserve_next("default", channel="WEB", cause=WEB)

    assert [type(e) for e in pool_events(app)] == [CertificatePool.RanLow]


def test_a_store_failing_the_pool_low_check_fails_no_reservation(
    app: GiftCertificates, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app.pools.create_pool("default", low_watermark=3, cause=ADMIN)
    app.pools.generate_certificates("default", 4, cause=ADMIN)
    pool = app.store.pool

    def unreachable(name: str) -> CertificatePool:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(app.store, "pool", unreachable)
    granted = app.reservations.reserve_next("default", channel="WEB", cause=WEB)  # 3 left
    granted_below = app.reservations.reserve_next("default", channel="WEB", cause=WEB)  # 2 left
    monkeypatch.setattr(app.store, "pool", pool)

    assert granted.certificate_id != granted_below.certificate_id
    assert pool_events(app) == []
    assert "could not check pool 'default' against its low watermark" in caplog.text
    app.reservations.reserve_next("default", channel="WEB", cause=WEB)  # tried again: 1 left
    [ran_low] = pool_events(app)
    assert ran_low.available == 1
