"""The reservation desk: concurrent requests served in groups, each answer to its own caller.

A fake `reserve_many` records the groups it is handed and holds every call on an Event until
the test opens it, so that requests pile up behind the groups being served exactly as they do
behind a commit in production. Nothing here assumes how many threads the desk serves with.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, wait
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
    """`reserve_many`: records each group; every call waits for `gate` (set it to let the
    desk go on); pools named "dry" are refused; a group holding a "boom" pool raises."""

    def __init__(self) -> None:
        self.groups: list[list[ReservationRequest]] = []
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.error = RuntimeError("the store is gone")
        self._lock = threading.Lock()

    def __call__(self, requests: Sequence[ReservationRequest]) -> list[Answer]:
        with self._lock:
            self.groups.append(list(requests))
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

    def group_of(self, req: ReservationRequest) -> list[ReservationRequest]:
        (group,) = [g for g in self.groups if req in g]
        return group


def number(req: ReservationRequest) -> int:
    return int(req.cause.causation_id.removeprefix("req-"))


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
    """Keeps the desk busy with a first group until `reserver.gate` is set."""
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
    # What waits is taken together, up to max_group (8): a few groups, not one call each.
    sizes = [len(group) for group in reserver.groups]
    assert max(sizes) <= 8
    assert len(sizes) <= count // 4, sizes
    assert first in reserver.groups[0]
    served = reserver.served()
    assert sorted(served, key=number) == [request(n) for n in range(count + 1)]


def test_answers_go_to_their_own_futures_in_submission_order(
    desk: ReservationDesk, reserver: FakeReserver
) -> None:
    hold(desk, reserver)
    futures = [desk.submit(request(n)) for n in range(1, 21)]
    reserver.gate.set()

    assert [f.result(WAIT) for f in futures] == [granted_for(request(n)) for n in range(1, 21)]
    assert sorted(reserver.served(), key=number) == [request(n) for n in range(21)]
    for group in reserver.groups:  # a group keeps the order of arrival
        assert [number(r) for r in group] == sorted(number(r) for r in group)


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
    with pytest.raises(PoolExhausted):
        desk.reserve(request(4, pool="dry"))


def test_a_failing_reserve_many_fails_its_own_group_only(
    desk: ReservationDesk, reserver: FakeReserver, caplog: pytest.LogCaptureFixture
) -> None:
    hold(desk, reserver)
    requests = [request(n, pool="boom" if n == 5 else "default") for n in range(1, 25)]
    futures = [desk.submit(r) for r in requests]
    with caplog.at_level(logging.DEBUG):
        reserver.gate.set()
        wait(futures, timeout=WAIT)
    # Each caller answers for the error (HTTP: a 503 logged once a minute, or a 500 with its
    # request id): the desk itself logs nothing, or a store outage logged a traceback a group.
    assert not [r for r in caplog.records if r.name.startswith("gcp_app")]

    failed = reserver.group_of(requests[4])
    for req, future in zip(requests, futures, strict=True):
        if req in failed:
            assert future.exception(WAIT) is reserver.error
        else:
            assert future.result(WAIT) == granted_for(req)
    assert len(failed) < len(requests)  # the other groups were served
    # The desk lives on.
    assert desk.reserve(request(25)) == granted_for(request(25))


def test_a_cancelled_future_is_not_handed_to_reserve_many(
    desk: ReservationDesk, reserver: FakeReserver
) -> None:
    hold(desk, reserver)
    futures = [(request(n), desk.submit(request(n))) for n in range(1, 41)]
    # A future the desk has not started on can be cancelled (the caller gave up waiting).
    cancelled = {req for req, future in futures[::2] if future.cancel()}
    reserver.gate.set()

    assert cancelled, "every request was under way before the test could cancel one"
    for req, future in futures:
        if req in cancelled:
            assert future.cancelled()
            assert req not in reserver.served()
        else:
            assert future.result(WAIT) == granted_for(req)


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
