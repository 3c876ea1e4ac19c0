"""The pool index as a table written with the events: on every store, what it answers, and the
one-off build for a store whose certificates were stored before it existed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

from tests.integration.conftest import DURABLE, FixedClock
from tests.issuing import ADMIN, POOL

from gcp_app.application import GiftCertificates
from gcp_app.pool_index import build_if_missing
from gcp_app.pool_rows import PoolRow
from gcp_domain import Cause, CertificateState

WEB = Cause("channel:web", "req-next", "req-next")


def forget_the_index(app: GiftCertificates) -> None:
    """Empties the index's table, as in a store written before the table existed."""
    recorder: Any = app.store.recorder
    table = recorder.pool_table.table_name
    schema = getattr(recorder.datastore, "schema", None)
    qualified = f"{schema}.{table}" if schema else table
    with recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute(f"DELETE FROM {qualified}")  # noqa: S608 -- our own table's name


def test_every_answer_comes_from_the_rows_written_with_the_events(app: GiftCertificates) -> None:
    app.pools.generate_certificates(POOL, 5, cause=ADMIN)
    app.pools.generate_certificates("small", 2, cause=ADMIN)
    reserved = app.reservations.reserve_next(POOL, channel="WEB", cause=WEB).certificate_id
    index = app.pool_index

    assert index.pools() == ["default", "small"]
    assert (index.levels(POOL).available, index.levels(POOL).reserved) == (4, 1)
    assert index.available_up_to(POOL, 2) == 2
    assert index.available_up_to(POOL, 100) == 4
    assert index.available_up_to("small", 3) == 2
    candidates = index.candidates(POOL, 10)
    assert len(candidates) == 4
    assert reserved not in candidates
    assert index.pending_deadlines() == (1, 0)


def test_candidates_from_any_point_wrap_around_to_every_available_one(
    app: GiftCertificates,
) -> None:
    app.pools.generate_certificates(POOL, 6, cause=ADMIN)
    table = app.store.pool_table
    everything = set(table.candidates(POOL, UUID(int=0), 100))
    assert len(everything) == 6

    for start in (UUID(int=0), sorted(everything)[3], UUID(int=2**128 - 1)):
        found = table.candidates(POOL, start, 100)
        assert set(found) == everything
        assert found[0] == min((i for i in everything if i >= start), default=min(everything))
    assert len(table.candidates(POOL, sorted(everything)[4], 3)) == 3


def test_a_row_is_never_put_back_to_an_older_version(app: GiftCertificates) -> None:
    app.pools.generate_certificates(POOL, 1, cause=ADMIN)
    granted = app.reservations.reserve_next(POOL, channel="WEB", cause=WEB)
    older = PoolRow(granted.certificate_id, 1, POOL, CertificateState.AVAILABLE)

    app.store.pool_table.write_alone([older])

    assert app.pool_index.levels(POOL).reserved == 1
    assert app.pool_index.candidates(POOL, 10) == []


@DURABLE
def test_a_store_without_the_index_gets_it_built_once_at_start(
    app: GiftCertificates, make_app: Callable[[], GiftCertificates], clock: FixedClock
) -> None:
    app.pools.generate_certificates(POOL, 5, cause=ADMIN)
    for _ in range(2):
        app.reservations.reserve_next(POOL, channel="WEB", cause=WEB)
    before = app.pool_index.levels(POOL)
    forget_the_index(app)
    assert app.store.pool_table.is_empty()

    restarted = make_app()

    assert restarted.pool_index.levels(POOL) == before
    assert restarted.pool_index.pending_deadlines() == (2, 0)
    deadlines = restarted.pool_index.lapsed_reservations(clock.now() + timedelta(days=1), 10)
    assert len(deadlines) == 2
    assert build_if_missing(restarted.store) == 0  # built: nothing more to do
