"""Reservations in groups (`reserve_many`, the reservation desk) on every store.

A group is one save; each request still gets what `reserve_next` would have given it alone:
a certificate of its own, the earlier answer for its Idempotency-Key, or its refusal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import OperationalError
from tests.concurrency import concurrently
from tests.integration.certificates import count_events, notifications
from tests.integration.conftest import DURABLE
from tests.issuing import ADMIN, POOL

from gcp_app.application import GiftCertificates
from gcp_app.errors import IdempotencyKeyReused, PoolExhausted, ReservationContention
from gcp_app.reservation_desk import Answer, DeskClosed, ReservationGranted, ReservationRequest
from gcp_domain import Cause, CertificatePool, CertificateState, GiftCertificate, ReservationKey

S = CertificateState

POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def request(
    n: int | str,
    *,
    pool: str = POOL,
    channel: str = "WEB",
    key: str | None = None,
    order_id: str | None = None,
) -> ReservationRequest:
    return ReservationRequest(
        pool=pool,
        channel=channel,
        cause=Cause(f"channel:{channel.lower()}", f"req-{n}", f"{channel}-{n}"),
        order_id=order_id,
        idempotency_key=key,
    )


def granted(answers: Sequence[Answer]) -> list[ReservationGranted]:
    assert all(isinstance(a, ReservationGranted) for a in answers), answers
    return [a for a in answers if isinstance(a, ReservationGranted)]


def reserved_notifications(app: GiftCertificates) -> list[Any]:
    return list(notifications(app, GiftCertificate.Reserved))


def reserved_ids(app: GiftCertificates) -> Counter[UUID]:
    return count_events(app, GiftCertificate.Reserved)


def blocked_count(app: GiftCertificates) -> int:
    return len(notifications(app, CertificatePool.IssueBlocked))


def assert_reserved_as_asked(
    app: GiftCertificates, req: ReservationRequest, answer: ReservationGranted
) -> None:
    certificate = app.get_certificate(answer.certificate_id)
    assert certificate.state is S.RESERVED
    assert certificate.number == answer.number
    assert certificate.pool == answer.pool == req.pool
    held = certificate.reservation
    assert held is not None
    assert (held.by, held.order_id, held.idempotency_key, held.until) == (
        req.channel,
        req.order_id,
        req.idempotency_key,
        answer.reserved_until,
    )
    reserved = app.history(answer.certificate_id)[-1]
    assert reserved.event == "Reserved"
    assert (reserved.actor, reserved.causation_id, reserved.correlation_id) == (
        req.cause.actor,
        req.cause.causation_id,
        req.cause.correlation_id,
    )


# ---------------------------------------------------------------------- one group


def test_a_group_gives_each_request_a_certificate_of_its_own(
    app: GiftCertificates, clock: Any
) -> None:
    app.pools.generate_certificates(POOL, 10, cause=ADMIN)
    requests = [request(n, order_id=f"WEB-{n}") for n in range(6)]

    answers = granted(app.reservations.reserve_many(requests))

    assert len(answers) == 6
    assert len({a.certificate_id for a in answers}) == 6
    assert len({a.number for a in answers}) == 6
    for req, answer in zip(requests, answers, strict=True):
        assert answer.reserved_until == clock.now() + app.settings.reservation_ttl
        assert_reserved_as_asked(app, req, answer)
    assert reserved_ids(app) == Counter({a.certificate_id: 1 for a in answers})
    status = app.pool_status(POOL)
    assert (status.available, status.reserved) == (4, 6)


@pytest.fixture
def count_inserts(
    app: GiftCertificates, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], list[int]]:
    """From the call on, how many events each write to the store carries (one write, one
    transaction)."""

    def start() -> list[int]:
        writes: list[int] = []
        insert_events = app.store.recorder.insert_events

        def counting(stored_events: Sequence[Any], **kwargs: Any) -> Any:
            writes.append(len(stored_events))
            return insert_events(stored_events, **kwargs)

        monkeypatch.setattr(app.store.recorder, "insert_events", counting)
        return writes

    return start


def test_a_group_is_stored_in_one_transaction(
    app: GiftCertificates, count_inserts: Callable[[], list[int]]
) -> None:
    app.pools.generate_certificates(POOL, 12, cause=ADMIN)
    app.reservations.reserve_next(POOL, channel="WEB", cause=ADMIN)  # the shelf is filled now
    inserts = count_inserts()
    before = len(reserved_notifications(app))
    requests = [request(n, key=f"k-{n}") if n % 2 else request(n) for n in range(8)]

    answers = granted(app.reservations.reserve_many(requests))

    # 8 Reserved events and 4 idempotency keys (a key is an aggregate of its own): one insert.
    assert inserts == [8 + 4]
    notifications = reserved_notifications(app)[before:]
    assert {UUID(str(n.originator_id)) for n in notifications} == {
        a.certificate_id for a in answers
    }
    ids = [n.id for n in notifications]
    assert ids == sorted(ids)
    assert ids[-1] - ids[0] < 8 + 4  # one contiguous run of the events table


def test_a_keyed_request_gets_its_earlier_answer_and_a_key_reused_elsewhere_is_refused(
    app: GiftCertificates, count_inserts: Callable[[], list[int]]
) -> None:
    app.pools.generate_certificates(POOL, 6, cause=ADMIN)
    app.pools.generate_certificates("gold", 2, cause=ADMIN)
    first = app.reservations.reserve_next(POOL, channel="WEB", idempotency_key="k-1", cause=ADMIN)
    second = app.reservations.reserve_next(POOL, channel="WEB", idempotency_key="k-2", cause=ADMIN)
    inserts = count_inserts()

    answers = app.reservations.reserve_many(
        [
            request(1, key="k-1"),
            request(2, key="k-2", pool="gold"),
            request(3, key="k-3"),
            request(4, key="k-1", channel="POS"),  # another channel's k-1: a new request
        ]
    )

    assert answers[0] == first
    assert isinstance(answers[1], IdempotencyKeyReused)
    fresh, other_channel = granted([answers[2], answers[3]])
    assert len({first.certificate_id, second.certificate_id, fresh.certificate_id}) == 3
    assert other_channel.certificate_id not in {
        first.certificate_id,
        second.certificate_id,
        fresh.certificate_id,
    }
    assert set(reserved_ids(app).values()) == {1}
    assert sum(reserved_ids(app).values()) == 4
    assert app.pool_status("gold").reserved == 0
    # Answered from the store, not by trying: the two new reservations were one write.
    assert inserts == [2 + 2]


def test_the_same_key_twice_in_one_group_makes_one_reservation(
    app: GiftCertificates, count_inserts: Callable[[], list[int]]
) -> None:
    app.pools.create_pool(POOL, low_watermark=0, cause=ADMIN)  # no POOL_LOW among the writes
    app.pools.generate_certificates(POOL, 6, cause=ADMIN)
    inserts = count_inserts()

    answers = app.reservations.reserve_many(
        [
            request(1, key="twice", order_id="WEB-1"),
            request(2),
            request(3, key="twice", order_id="WEB-1"),
            request(4, key="twice"),  # no orderId this time: no contradiction
            request(5, key="twice", order_id="WEB-5"),  # another order: not the same request
        ]
    )

    assert isinstance(answers[4], IdempotencyKeyReused)
    once, other, again, third = granted(answers[:4])
    assert again == once
    assert third == once
    assert other.certificate_id != once.certificate_id
    assert reserved_ids(app) == Counter({once.certificate_id: 1, other.certificate_id: 1})
    key = app.store.repository.get(ReservationKey.create_id("WEB", "twice"))
    assert isinstance(key, ReservationKey)
    assert key.certificate_id == once.certificate_id
    assert app.pool_status(POOL).reserved == 2
    # The repeats were answered after the group, which was one write (2 Reserved, 1 key).
    assert inserts == [2 + 1]


def test_the_same_key_twice_in_a_group_for_another_pool_is_refused(
    app: GiftCertificates,
) -> None:
    app.pools.generate_certificates(POOL, 4, cause=ADMIN)
    app.pools.generate_certificates("gold", 4, cause=ADMIN)

    answers = app.reservations.reserve_many([request(1, key="k"), request(2, key="k", pool="gold")])

    assert isinstance(answers[0], ReservationGranted)
    assert isinstance(answers[1], IdempotencyKeyReused)
    assert app.pool_status(POOL).reserved == 1
    assert app.pool_status("gold").reserved == 0


def test_a_pool_running_dry_mid_group_refuses_the_rest_and_blocks_once(
    app: GiftCertificates,
) -> None:
    app.pools.generate_certificates(POOL, 3, cause=ADMIN)

    answers = app.reservations.reserve_many([request(n) for n in range(7)])

    served = granted(answers[:3])
    assert len({a.certificate_id for a in served}) == 3
    assert all(isinstance(a, PoolExhausted) for a in answers[3:]), answers[3:]
    assert blocked_count(app) == 1
    status = app.pool_status(POOL)
    assert (status.available, status.reserved) == (0, 3)
    for answer in served:
        assert app.get_certificate(answer.certificate_id).state is S.RESERVED


def test_after_everything_is_reserved_the_pool_is_exhausted(app: GiftCertificates) -> None:
    app.pools.generate_certificates(POOL, 5, cause=ADMIN)
    served = granted(app.reservations.reserve_many([request(n) for n in range(5)]))
    assert len({a.certificate_id for a in served}) == 5

    again = app.reservations.reserve_many([request(n) for n in range(5, 8)])

    assert all(isinstance(a, PoolExhausted) for a in again), again
    with pytest.raises(PoolExhausted):
        app.reservations.reserve_next(POOL, channel="WEB", cause=ADMIN)
    with pytest.raises(PoolExhausted):
        app.reservation_desk.reserve(request(9))
    assert blocked_count(app) == 1
    assert sum(reserved_ids(app).values()) == 5


def test_the_desk_serves_requests_through_reserve_many(app: GiftCertificates) -> None:
    app.pools.generate_certificates(POOL, 3, cause=ADMIN)

    answer = app.reservation_desk.reserve(request(1, key="desk-1", order_id="WEB-1"))

    assert_reserved_as_asked(app, request(1, key="desk-1", order_id="WEB-1"), answer)
    assert app.reservation_desk.reserve(request(2, key="desk-1")) == answer
    with pytest.raises(IdempotencyKeyReused):
        app.reservation_desk.reserve(request(3, key="desk-1", pool="gold"))


def test_a_store_failure_after_the_group_commit_leaves_the_committed_answers_standing(
    app: GiftCertificates, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The group is committed first; a repeated key is served after it. If the store fails
    then (a dropped connection), the requests whose reservations are committed must still get
    them: failing the whole group tells their callers "no" about certificates held for them
    (orphaned until the reservation times out, and an unkeyed caller cannot get them back)."""
    app.pools.create_pool(POOL, low_watermark=0, cause=ADMIN)  # no POOL_LOW among the writes
    app.pools.generate_certificates(POOL, 6, cause=ADMIN)
    insert_events = app.store.recorder.insert_events
    select_events = app.store.recorder.select_events
    committed: list[int] = []

    def inserting(stored_events: Sequence[Any], **kwargs: Any) -> Any:
        result = insert_events(stored_events, **kwargs)
        committed.append(len(stored_events))
        return result

    repeated_key = ReservationKey.create_id("WEB", "k")

    def selecting(originator_id: Any, *args: Any, **kwargs: Any) -> Any:
        if len(committed) == 1 and originator_id == repeated_key:
            committed.append(0)  # fails once, right after the group's commit, for the repeat
            raise OperationalError("server closed the connection unexpectedly")
        return select_events(originator_id, *args, **kwargs)

    monkeypatch.setattr(app.store.recorder, "insert_events", inserting)
    monkeypatch.setattr(app.store.recorder, "select_events", selecting)
    requests = [request(1, key="k"), request(2), request(3, key="k")]

    answers = app.reservations.reserve_many(requests)

    monkeypatch.undo()
    stored = reserved_ids(app)
    assert sum(stored.values()) == 2  # the group was committed: two reservations held
    keyed, unkeyed = granted(answers[:2])
    assert set(stored) == {keyed.certificate_id, unkeyed.certificate_id}
    assert committed[1:2] == [0]  # the store did fail after the commit
    assert answers[2] == keyed or not isinstance(answers[2], ReservationGranted)


# ---------------------------------------------------------------------- two instances


@DURABLE
def test_a_stale_shelf_hands_out_no_duplicate_and_every_request_is_served(
    app: GiftCertificates, make_app: Callable[[], GiftCertificates]
) -> None:
    """The second instance reserves most of what the first has on its shelf; the first
    instance's next group meets stale copies and still serves every request it can."""
    app.pools.generate_certificates(POOL, 30, cause=ADMIN)
    first = app.reservations.reserve_next(
        POOL, channel="WEB", cause=ADMIN
    )  # fills the first shelf (29)
    other = make_app()
    theirs = granted(other.reservations.reserve_many([request(f"other-{n}") for n in range(20)]))

    ours = app.reservations.reserve_many([request(n) for n in range(9)])
    last = app.reservations.reserve_many([request(n) for n in range(9, 11)])

    mine = granted(ours)
    assert all(isinstance(a, PoolExhausted) for a in last), last
    everyone = [first.certificate_id, *(a.certificate_id for a in theirs + mine)]
    assert len(everyone) == len(set(everyone)) == 30
    assert reserved_ids(app) == Counter(dict.fromkeys(everyone, 1))
    for answer in mine:
        assert app.get_certificate(answer.certificate_id).reservation is not None


@POSTGRES
def test_threads_on_two_instances_through_the_desks_never_share_a_certificate(
    app: GiftCertificates, make_app: Callable[[], GiftCertificates]
) -> None:
    threads, each = 8, 50
    app.pools.generate_certificates(POOL, threads * each, cause=ADMIN)
    instances = [app, make_app()]
    results: list[list[UUID]] = [[] for _ in range(threads)]
    contention = Counter[int]()

    def run(index: int) -> None:
        desk = instances[index % 2].reservation_desk
        for n in range(each):
            while True:
                try:
                    answer = desk.reserve(request(f"t{index}-{n}"))
                except ReservationContention:
                    contention[index] += 1
                    continue
                results[index].append(answer.certificate_id)
                break

    _, errors = concurrently(threads, run)

    assert errors == []
    grants = [c for result in results for c in result]
    assert len(grants) == threads * each
    assert len(set(grants)) == len(grants)
    stored = reserved_ids(app)
    assert set(stored) == set(grants)
    assert set(stored.values()) == {1}
    assert app.pool_status(POOL).reserved == len(grants)
    assert app.pool_status(POOL).available == 0


# ---------------------------------------------------------------------- a small pool


def test_a_small_pool_is_not_exhausted_before_it_is_empty_through_the_desk(
    app: GiftCertificates,
) -> None:
    app.pools.generate_certificates(POOL, 8, cause=ADMIN)

    answers, errors = concurrently(32, lambda n: app.reservation_desk.reserve(request(n)))

    assert len(answers) == 8
    assert len({a.certificate_id for a in answers}) == 8
    assert len(errors) == 24
    assert all(isinstance(e, PoolExhausted) for e in errors), errors
    assert app.pool_status(POOL).available == 0


def test_a_small_pool_is_not_exhausted_before_it_is_empty_with_concurrent_reserve_next(
    app: GiftCertificates,
) -> None:
    app.pools.generate_certificates(POOL, 8, cause=ADMIN)

    answers, errors = concurrently(
        24, lambda n: app.reservations.reserve_next(POOL, channel="WEB", cause=request(n).cause)
    )

    assert len({a.certificate_id for a in answers}) == len(answers) == 8
    assert len(errors) == 16
    assert all(isinstance(e, PoolExhausted) for e in errors), errors
    assert sum(reserved_ids(app).values()) == 8


# ---------------------------------------------------------------------- closing


def test_closing_the_application_serves_the_queued_reservations_then_refuses(
    make_app: Callable[[], GiftCertificates],
) -> None:
    app = make_app()
    app.pools.generate_certificates(POOL, 12, cause=ADMIN)
    futures = [app.reservation_desk.submit(request(n)) for n in range(10)]

    app.close()

    answers = [future.result(timeout=0) for future in futures]
    assert len({a.certificate_id for a in answers}) == 10
    with pytest.raises(DeskClosed):
        app.reservation_desk.submit(request(10))


@DURABLE
def test_a_small_pool_shared_by_two_instances_is_handed_out_whole_and_once(
    app: GiftCertificates, make_app: Callable[[], GiftCertificates]
) -> None:
    app.pools.generate_certificates(POOL, 8, cause=ADMIN)
    instances = [app, make_app()]

    answers, errors = concurrently(
        32, lambda n: instances[n % 2].reservation_desk.reserve(request(n))
    )

    assert len({a.certificate_id for a in answers}) == len(answers) == 8
    assert all(isinstance(e, PoolExhausted) for e in errors), errors
    assert reserved_ids(app) == Counter({a.certificate_id: 1 for a in answers})
