"""The PostgreSQL inbox recorder records a batch's positions in one statement, with the same
rule as the library's one-at-a-time statement: every position must be beyond the recorded one,
or the whole transaction (events included) fails with IntegrityError."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking

from gcp_app.application import GiftCertificates
from gcp_app.recorders import PostgresInboxRecorder

pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

SOURCES = [f"inbox:All_Payments/{partition}" for partition in range(5)]


@pytest.fixture
def recorder(make_app: Callable[[], GiftCertificates]) -> PostgresInboxRecorder:
    recorder = make_app().store.recorder
    assert isinstance(recorder, PostgresInboxRecorder)
    return recorder


def _event(originator_id: UUID | None = None) -> StoredEvent:
    return StoredEvent(originator_id or uuid4(), 1, "test:Event", b"{}")


def _positions(recorder: PostgresInboxRecorder) -> dict[str, int | None]:
    return {source: recorder.max_tracking_id(source) for source in SOURCES}


def test_many_positions_are_recorded_with_the_events(
    recorder: PostgresInboxRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder.insert_events([_event()], trackings=[Tracking(SOURCES[0], 3)])
    one_at_a_time: list[Tracking] = []
    library = recorder._insert_tracking
    monkeypatch.setattr(
        recorder,
        "_insert_tracking",
        lambda curs, tracking: (one_at_a_time.append(tracking), library(curs, tracking)),
    )

    ids = recorder.insert_events(
        [_event(), _event()], trackings=[Tracking(s, 7 + i) for i, s in enumerate(SOURCES)]
    )

    assert ids is not None
    assert len(ids) == 2
    assert _positions(recorder) == {s: 7 + i for i, s in enumerate(SOURCES)}
    assert one_at_a_time == []  # one statement for all five


@pytest.mark.parametrize("replayed", [3, 2], ids=["same-position", "earlier-position"])
def test_a_replayed_position_among_many_fails_the_whole_transaction(
    recorder: PostgresInboxRecorder, replayed: int
) -> None:
    recorder.insert_events([_event()], trackings=[Tracking(SOURCES[2], 3)])
    before = recorder.max_notification_id()
    kept = uuid4()

    trackings = [Tracking(s, 10) for s in SOURCES]
    trackings[2] = Tracking(SOURCES[2], replayed)
    with pytest.raises(IntegrityError):
        recorder.insert_events([_event(kept)], trackings=trackings)

    assert recorder.max_notification_id() == before
    assert list(recorder.select_events(kept)) == []
    assert _positions(recorder) == {s: (3 if s == SOURCES[2] else None) for s in SOURCES}


def test_the_same_source_twice_keeps_the_one_at_a_time_rule(
    recorder: PostgresInboxRecorder,
) -> None:
    recorder.insert_events([_event()], trackings=[Tracking(SOURCES[0], 1), Tracking(SOURCES[0], 2)])
    assert recorder.max_tracking_id(SOURCES[0]) == 2

    with pytest.raises(IntegrityError):
        recorder.insert_events(
            [_event()], trackings=[Tracking(SOURCES[1], 5), Tracking(SOURCES[1], 5)]
        )
    assert recorder.max_tracking_id(SOURCES[1]) is None
