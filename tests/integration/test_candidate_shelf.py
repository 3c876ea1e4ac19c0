"""The candidate shelf: available certificates read ahead from the pool index, on every store.

Each test builds a shelf of its own over the application's pool index (small `refill` and
`low`, so that the reads ahead happen within a few takes) and a `load` that reads through the
application's public API; `GatedLoad` can hold a read under way until the test lets it go.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from uuid import UUID

import pytest
from tests.integration.certificates import originator_ids
from tests.integration.conftest import DURABLE
from tests.issuing import ADMIN, POOL

from gcp_app.application import GiftCertificates
from gcp_app.errors import PoolExhausted
from gcp_app.shelf import HANDED_OUT_SECONDS, CandidateShelf
from gcp_app.use_cases import CancelCertificate, reserving
from gcp_domain import Cause, CertificateState, GiftCertificate

SUPPORT = Cause("support:desk", "req-void", "req-void")
WAIT = 5.0  # seconds: a bound for a hang, never reached when the shelf works


class GatedLoad:
    """Reads the certificates through the application; while `gate` is clear a read waits
    (and sets `entered`); `fail_next` makes the next read raise."""

    def __init__(self, app: GiftCertificates) -> None:
        self.app = app
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.reads: list[list[UUID]] = []
        self.fail_next = False

    def __call__(self, ids: Iterable[UUID]) -> dict[UUID, GiftCertificate]:
        wanted = list(ids)
        self.reads.append(wanted)
        self.entered.set()
        assert self.gate.wait(WAIT), "the test never opened the gate"
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("the store went away")
        return {i: self.app.get_certificate(i) for i in wanted}


@pytest.fixture
def load(app: GiftCertificates) -> Iterator[GatedLoad]:
    gated = GatedLoad(app)
    yield gated
    gated.gate.set()  # never leave a read hanging behind a failed test


@pytest.fixture
def make_shelf(app: GiftCertificates, load: GatedLoad) -> Iterator[Callable[..., CandidateShelf]]:
    shelves: list[CandidateShelf] = []

    def factory(*, refill: int, low: int) -> CandidateShelf:
        shelf = CandidateShelf(app.pool_index, load, refill=refill, low=low)
        app.store.on_rows_recorded(shelf.recorded)
        shelves.append(shelf)
        return shelf

    yield factory
    load.gate.set()
    for shelf in shelves:
        shelf.close()


def certificate_ids(app: GiftCertificates) -> set[UUID]:
    return set(originator_ids(app, GiftCertificate.Created))


def take_all(shelf: CandidateShelf) -> list[GiftCertificate]:
    taken = []
    while (certificate := shelf.take(POOL)) is not None:
        taken.append(certificate)
        assert len(taken) <= 1000, "the shelf keeps handing out certificates"
    return taken


def hold_a_read_ahead(shelf: CandidateShelf, load: GatedLoad) -> None:
    """Takes two certificates of a shelf of refill=2, low=1: the second empties the shelf, and
    the read ahead it starts is held at the gate, under way."""
    assert shelf.take(POOL) is not None  # a read of 2: one handed out, one on the shelf
    load.gate.clear()
    load.entered.clear()
    assert shelf.take(POOL) is not None  # the shelf is empty: the next 2 are read ahead...
    assert load.entered.wait(WAIT)  # ...and that read is under way, held


def assert_current_and_available(app: GiftCertificates, taken: list[GiftCertificate]) -> None:
    for certificate in taken:
        stored = app.get_certificate(certificate.id)
        assert stored.state is CertificateState.AVAILABLE
        assert stored.version == certificate.version
        assert certificate.state is CertificateState.AVAILABLE


def test_the_shelf_hands_out_each_available_certificate_once_then_none(
    app: GiftCertificates, make_shelf: Callable[..., CandidateShelf]
) -> None:
    app.pools.generate_certificates(POOL, 7, cause=ADMIN)
    shelf = make_shelf(refill=16, low=0)

    taken = take_all(shelf)

    assert {c.id for c in taken} == certificate_ids(app)
    assert len(taken) == 7
    assert_current_and_available(app, taken)
    assert shelf.take(POOL) is None
    assert shelf.take("nowhere") is None


def test_the_reads_ahead_keep_a_pool_served_to_its_last_certificate(
    app: GiftCertificates, make_shelf: Callable[..., CandidateShelf], load: GatedLoad
) -> None:
    app.pools.generate_certificates(POOL, 20, cause=ADMIN)
    shelf = make_shelf(refill=4, low=2)

    taken = [shelf.take(POOL) for _ in range(20)]

    assert all(c is not None for c in taken), "None (pool exhausted) with certificates left"
    found = [c for c in taken if c is not None]
    assert len({c.id for c in found}) == 20
    assert {c.id for c in found} == certificate_ids(app)
    assert_current_and_available(app, found)
    assert shelf.take(POOL) is None
    assert all(len(read) <= 4 for read in load.reads)
    assert len(load.reads) >= 5  # the pool came in reads of at most `refill`


def test_a_voided_certificate_on_the_shelf_is_not_handed_out(
    app: GiftCertificates, make_shelf: Callable[..., CandidateShelf]
) -> None:
    app.pools.generate_certificates(POOL, 6, cause=ADMIN)
    shelf = make_shelf(refill=16, low=0)
    first = shelf.take(POOL)  # the other five are on the shelf now
    assert first is not None
    voided = sorted(certificate_ids(app) - {first.id})[:3]
    for certificate_id in voided:
        assert app.execute(
            CancelCertificate(certificate_id=certificate_id, reason="misprinted", cause=SUPPORT)
        )

    rest = take_all(shelf)

    assert {c.id for c in rest} == certificate_ids(app) - {first.id, *voided}
    assert_current_and_available(app, rest)


@DURABLE
def test_a_copy_another_instance_changed_is_refused_by_the_store_and_another_is_reserved(
    app: GiftCertificates, make_app: Callable[[], GiftCertificates]
) -> None:
    app.pools.generate_certificates(POOL, 10, cause=ADMIN)
    first = app.reservations.reserve_next(POOL, channel="WEB", cause=SUPPORT).certificate_id
    # The other nine are on this instance's shelf now; another instance takes five of them.
    other = make_app()
    reserved = {
        other.reservations.reserve_next(POOL, channel="POS", cause=SUPPORT).certificate_id
        for _ in range(4)
    }
    voided = sorted(certificate_ids(app) - reserved - {first})[0]
    assert other.execute(
        CancelCertificate(certificate_id=voided, reason="misprinted", cause=SUPPORT)
    )

    rest = {
        app.reservations.reserve_next(POOL, channel="WEB", cause=SUPPORT).certificate_id
        for _ in range(4)
    }

    assert rest == certificate_ids(app) - reserved - {first, voided}
    with pytest.raises(PoolExhausted):
        app.reservations.reserve_next(POOL, channel="WEB", cause=SUPPORT)
    assert app.pool_status(POOL).reserved == 9


def test_after_a_collision_the_shelf_is_read_afresh_and_loses_nothing(
    app: GiftCertificates, make_shelf: Callable[..., CandidateShelf], load: GatedLoad
) -> None:
    app.pools.generate_certificates(POOL, 8, cause=ADMIN)
    shelf = make_shelf(refill=16, low=0)
    first = shelf.take(POOL)  # the other seven are on the shelf now
    assert first is not None
    assert len(load.reads) == 1

    shelf.collided(POOL)
    rest = take_all(shelf)

    assert len(load.reads) == 2  # read again, not served from what was dropped
    assert {c.id for c in rest} == certificate_ids(app) - {first.id}
    assert len(rest) == 7
    assert_current_and_available(app, rest)


@DURABLE
def test_a_reserver_that_meets_another_instances_reservation_reads_afresh(
    app: GiftCertificates,
    make_app: Callable[[], GiftCertificates],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two attempts: the first meets a copy the other instance reserved, the second reads
    afresh and finds the truth, an empty pool (from the same stale shelf it would meet another
    copy and answer contention, "try again")."""
    monkeypatch.setattr(reserving, "RESERVATION_ATTEMPTS", 2)
    app.pools.generate_certificates(POOL, 10, cause=ADMIN)
    app.reservations.reserve_next(POOL, channel="WEB", cause=SUPPORT)
    # The other nine are on this instance's shelf; another instance reserves all of them.
    other = make_app()
    for _ in range(9):
        other.reservations.reserve_next(POOL, channel="POS", cause=SUPPORT)

    with pytest.raises(PoolExhausted):
        app.reservations.reserve_next(POOL, channel="WEB", cause=SUPPORT)
    assert app.pool_status(POOL).reserved == 10


def test_certificates_handed_out_are_not_read_again_until_given_back(
    app: GiftCertificates, make_shelf: Callable[..., CandidateShelf]
) -> None:
    app.pools.generate_certificates(POOL, 3, cause=ADMIN)
    shelf = make_shelf(refill=16, low=0)
    taken = take_all(shelf)  # handed out, none reserved (yet)
    assert len(taken) == 3

    assert shelf.take(POOL) is None  # all three are out, though the index has them available
    shelf.give_back([taken[0].id])

    again = shelf.take(POOL)
    assert again is not None
    assert again.id == taken[0].id
    assert shelf.take(POOL) is None


def test_a_taker_waits_for_the_read_under_way_rather_than_finding_the_pool_empty(
    app: GiftCertificates, make_shelf: Callable[..., CandidateShelf], load: GatedLoad
) -> None:
    app.pools.generate_certificates(POOL, 4, cause=ADMIN)
    shelf = make_shelf(refill=2, low=1)
    hold_a_read_ahead(shelf, load)  # of the last 2
    answers: list[GiftCertificate | None] = []
    taker = threading.Thread(target=lambda: answers.append(shelf.take(POOL)))

    taker.start()
    taker.join(0.2)
    assert answers == [], "a taker answered while the only certificates left were being read"
    load.gate.set()
    taker.join(WAIT)

    assert len(answers) == 1
    assert answers[0] is not None
    assert shelf.take(POOL) is not None
    assert shelf.take(POOL) is None


def test_close_returns_after_the_read_under_way(
    app: GiftCertificates, make_shelf: Callable[..., CandidateShelf], load: GatedLoad
) -> None:
    app.pools.generate_certificates(POOL, 6, cause=ADMIN)
    shelf = make_shelf(refill=2, low=1)
    hold_a_read_ahead(shelf, load)
    closing = threading.Thread(target=shelf.close)

    closing.start()
    closing.join(0.2)
    assert closing.is_alive(), "close() returned while a read was under way"
    load.gate.set()
    closing.join(WAIT)

    assert not closing.is_alive()
    # The read finished: its two certificates are on the shelf, handed out without a read.
    reads = len(load.reads)
    taken = [shelf.take(POOL), shelf.take(POOL)]
    assert all(c is not None for c in taken)
    assert len(load.reads) == reads
    # No read ahead after close: the shelf reads again only when a taker finds it empty.
    assert shelf.take(POOL) is not None
    assert len(load.reads) == reads + 1


def test_a_failed_read_loses_no_certificate(
    app: GiftCertificates, make_shelf: Callable[..., CandidateShelf], load: GatedLoad
) -> None:
    app.pools.generate_certificates(POOL, 3, cause=ADMIN)
    shelf = make_shelf(refill=16, low=0)
    load.fail_next = True

    with pytest.raises(ConnectionError):
        shelf.take(POOL)
    taken = take_all(shelf)

    assert {c.id for c in taken} == certificate_ids(app)


def test_a_failed_read_ahead_is_met_by_the_next_taker(
    app: GiftCertificates, make_shelf: Callable[..., CandidateShelf], load: GatedLoad
) -> None:
    app.pools.generate_certificates(POOL, 6, cause=ADMIN)
    shelf = make_shelf(refill=2, low=1)
    first = shelf.take(POOL)
    load.fail_next = True  # the read ahead the next take starts fails, in the background

    rest = take_all(shelf)

    assert first is not None
    assert {c.id for c in rest} | {first.id} == certificate_ids(app)
    assert len(rest) == 5


def test_a_certificate_handed_out_and_never_settled_is_offered_again_after_a_while(
    app: GiftCertificates, load: GatedLoad
) -> None:
    app.pools.generate_certificates(POOL, 2, cause=ADMIN)
    now = [0.0]
    shelf = CandidateShelf(app.pool_index, load, refill=16, low=0, monotonic=lambda: now[0])
    try:
        taken = take_all(shelf)  # a reserver took them and died before saving
        assert len(taken) == 2
        now[0] = HANDED_OUT_SECONDS - 1
        assert shelf.take(POOL) is None

        now[0] = HANDED_OUT_SECONDS + 1
        again = take_all(shelf)
    finally:
        shelf.close()

    assert {c.id for c in again} == {c.id for c in taken}
