"""The reservation desk: concurrent requests served in groups, each answer to its own caller.

A fake `reserve_many` records the groups it is handed and can hold the desk's thread on an
Event, so that requests pile up behind it exactly as they do behind a commit in production.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from uuid import UUID, uuid5

import pytest

from gcp_app.errors import PoolExhausted
from gcp_app.reservation_desk import (
    Answer,
    DeskClosed,
    ReservationDesk,
    ReservationGranted,
    ReservationRequest,
)
from gcp_domain.cause import Cause

UNTIL = datetime(2026, 11, 26, 10, 15, tzinfo=UTC)
NAMESPACE = UUID("6c1f7f9e-3d0e-4d52-9a53-2f1d3c4b5a60")
WAIT = 5.0  # seconds: a bound for a hang, never reached when the desk works


def request(n: int, *, pool: str = "default") -> ReservationRequest:
    return ReservationRequest(
        pool=pool,
        channel="WEB",
        cause=Cause("channel:web", f"req-{n}", f"WEB-{n}"),
        order_id=f"WEB-{n}",
    )


def granted_for(req: ReservationRequest) -> ReservationGranted:
    """The fake's answer: derived from the request, so a mix-up shows."""
    assert req.order_id is not None
    return ReservationGranted(
        certificate_id=uuid5(NAMESPACE, req.order_id),
        number=req.order_id,
        pool=req.pool,
        reserved_until=UNTIL,
    )


class FakeReserver:
    """`reserve_many`: records each group; the first call waits for `gate` (set it to let the
    desk go on); pools named "dry" are refused; a group holding a "boom" pool raises."""

    def __init__(self) -> None:
        self.groups: list[list[ReservationRequest]] = []
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.error = RuntimeError("the store is gone")

    def __call__(self, requests: Sequence[ReservationRequest]) -> list[Answer]:
        self.groups.append(list(requests))
        if len(self.groups) == 1:
            self.entered.set()
            assert self.gate.wait(WAIT), "the test never opened the gate"
        if any(r.pool == "boom" for r in requests):
            raise self.error
        return [
            PoolExhausted(f"pool {r.pool!r} is dry") if r.pool == "dry" else granted_for(r)
            for r in requests
        ]

    def served(self) -> list[ReservationRequest]:
        return [r for group in self.groups for r in group]


@pytest.fixture
def reserver() -> FakeReserver:
    return FakeReserver()


@pytest.fixture
def desk(reserver: FakeReserver) -> Iterator[ReservationDesk]:
    desk = ReservationDesk(reserver, max_group=8)
    yield desk
    reserver.gate.set()
    desk.close()


def hold(desk: ReservationDesk, reserver: FakeReserver) -> ReservationRequest:
    """Keeps the desk's thread busy with a first group until `reserver.gate` is set."""
    first = request(0)
    desk.submit(first)
    assert reserver.entered.wait(WAIT)
    return first


def test_a_lone_request_is_served_at_once(desk: ReservationDesk, reserver: FakeReserver) -> None:
    reserver.gate.set()

    assert desk.reserve(request(1)) == granted_for(request(1))
    assert reserver.groups == [[request(1)]]


def test_concurrent_requests_are_served_in_few_groups_of_at_most_max_group(
    desk: ReservationDesk, reserver: FakeReserver
) -> None:
    first = hold(desk, reserver)
    count = 60
    start = threading.Barrier(count)
    futures: dict[int, Future[ReservationGranted]] = {}

    def submit(n: int) -> None:
        start.wait()
        futures[n] = desk.submit(request(n))

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(1, count + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reserver.gate.set()
    answers = {n: future.result(WAIT) for n, future in futures.items()}

    assert answers == {n: granted_for(request(n)) for n in range(1, count + 1)}
    # Everything waiting is taken at once, up to max_group (8): 60 requests, 8 groups.
    sizes = [len(group) for group in reserver.groups]
    assert sizes == [1, 8, 8, 8, 8, 8, 8, 8, 4]
    assert reserver.groups[0] == [first]
    served = reserver.served()[1:]
    assert sorted(served, key=lambda r: int(r.cause.causation_id[4:])) == [
        request(n) for n in range(1, count + 1)
    ]
    assert len(set(served)) == count  # each request handed over once


def test_answers_go_to_their_own_futures_in_submission_order(
    desk: ReservationDesk, reserver: FakeReserver
) -> None:
    hold(desk, reserver)
    futures = [desk.submit(request(n)) for n in range(1, 21)]
    reserver.gate.set()

    assert [f.result(WAIT) for f in futures] == [granted_for(request(n)) for n in range(1, 21)]
    assert reserver.served()[1:] == [request(n) for n in range(1, 21)]


def test_a_refusal_is_the_future_s_exception_and_spares_the_rest_of_the_group(
    desk: ReservationDesk, reserver: FakeReserver
) -> None:
    hold(desk, reserver)
    fine = desk.submit(request(1))
    refused = desk.submit(request(2, pool="dry"))
    also_fine = desk.submit(request(3))
    reserver.gate.set()

    assert fine.result(WAIT) == granted_for(request(1))
    assert also_fine.result(WAIT) == granted_for(request(3))
    with pytest.raises(PoolExhausted, match="dry"):
        refused.result(WAIT)
    assert reserver.groups[1] == [request(1), request(2, pool="dry"), request(3)]
    with pytest.raises(PoolExhausted):
        desk.reserve(request(4, pool="dry"))


def test_a_failing_reserve_many_fails_its_own_group_only(
    desk: ReservationDesk, reserver: FakeReserver
) -> None:
    hold(desk, reserver)
    # max_group is 8: requests 1-8 are one group (with the failing one), 9-12 the next.
    first_group = [desk.submit(request(n, pool="boom" if n == 5 else "default")) for n in range(1, 9)]
    second_group = [desk.submit(request(n)) for n in range(9, 13)]
    reserver.gate.set()

    for future in first_group:
        assert future.exception(WAIT) is reserver.error
    assert [f.result(WAIT) for f in second_group] == [granted_for(request(n)) for n in range(9, 13)]
    assert [len(group) for group in reserver.groups] == [1, 8, 4]
    # The desk's thread lives on.
    assert desk.reserve(request(13)) == granted_for(request(13))


def test_a_cancelled_future_is_not_handed_to_reserve_many(
    desk: ReservationDesk, reserver: FakeReserver
) -> None:
    hold(desk, reserver)
    kept = desk.submit(request(1))
    given_up = desk.submit(request(2))
    also_kept = desk.submit(request(3))
    assert given_up.cancel()
    reserver.gate.set()

    assert kept.result(WAIT) == granted_for(request(1))
    assert also_kept.result(WAIT) == granted_for(request(3))
    assert given_up.cancelled()
    assert request(2) not in reserver.served()
    assert reserver.groups[1] == [request(1), request(3)]


def test_close_serves_what_is_queued_then_refuses(
    desk: ReservationDesk, reserver: FakeReserver
) -> None:
    hold(desk, reserver)
    queued = [desk.submit(request(n)) for n in range(1, 11)]
    closing = threading.Thread(target=desk.close)
    closing.start()
    closing.join(0.2)
    assert closing.is_alive(), "close() returned while a group was still being served"

    reserver.gate.set()
    closing.join(WAIT)

    assert not closing.is_alive()
    assert all(future.done() for future in queued)
    assert [f.result() for f in queued] == [granted_for(request(n)) for n in range(1, 11)]
    with pytest.raises(DeskClosed):
        desk.submit(request(11))
    with pytest.raises(DeskClosed):
        desk.reserve(request(12))
    assert request(11) not in reserver.served()
    desk.close()  # again: nothing to do


def test_a_desk_never_used_closes_at_once_and_refuses(reserver: FakeReserver) -> None:
    desk = ReservationDesk(reserver)
    desk.close()

    with pytest.raises(DeskClosed):
        desk.submit(request(1))
    assert reserver.groups == []
