"""PostgresInboxRecorder's own ways with PostgreSQL: saves without positions in one round trip
(the same rows, ids and refusals as the library's path; a refused save leaves nothing behind,
not even an aborted transaction on the pooled connection), events sent in binary (any bytes
come back exactly), and the store's set-up one process at a time."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking
from tests.concurrency import concurrently

from gcp_adapters.bootstrap import build_application
from gcp_app.application import GiftCertificates

from .conftest import make_settings
from .test_app_save import Note

pytestmark = pytest.mark.postgres


@pytest.fixture
def one_connection_app(tmp_path: Path, postgres_url: str) -> GiftCertificates:
    # One pooled connection: a refused save would leave its aborted block to the next one.
    return build_application(
        make_settings(tmp_path, postgres_url, GCP_DB_POOL_SIZE="1", GCP_DB_MAX_OVERFLOW="0")
    )


def test_saves_store_every_event_in_order_with_consecutive_ids(
    one_connection_app: GiftCertificates,
) -> None:
    app = one_connection_app
    try:
        first, second = Note("a"), Note("b")
        second.rewrite("b2")
        recordings = app.store.save(first, second)
        third = Note("c")
        recordings += app.store.save(third)

        ids = [recording.notification.id for recording in recordings]
        assert ids == list(range(ids[0], ids[0] + 4))
        stored = app.store.recorder.select_notifications(start=ids[0], limit=10)
        assert [(n.originator_id, n.originator_version) for n in stored] == [
            (first.id, 1),
            (second.id, 1),
            (second.id, 2),
            (third.id, 1),
        ]
    finally:
        app.close()


def test_a_refused_save_stores_nothing_and_the_connection_serves_the_next(
    one_connection_app: GiftCertificates,
) -> None:
    app = one_connection_app
    try:
        note = Note("a")
        app.store.save(note)
        stale = app.store.repository.get(note.id)
        note.rewrite("mine")
        app.store.save(note)
        other = Note("other")
        stale.rewrite("theirs")  # the same version as "mine": the store refuses it

        with pytest.raises(IntegrityError):
            app.store.save(other, stale)

        assert app.store.repository.get(note.id).text == "mine"
        with pytest.raises(AggregateNotFoundError):
            app.store.repository.get(other.id)
        later = Note("later")
        assert app.store.save(later)[0].notification.id == app.store.recorder.max_notification_id()
        assert app.store.repository.get(later.id).text == "later"
    finally:
        app.close()


def test_states_of_any_bytes_come_back_exactly_on_both_insert_paths(
    one_connection_app: GiftCertificates,
) -> None:
    # The events go to PostgreSQL in binary: nothing in a state (quotes, backslashes, commas,
    # parentheses, NUL, bytes that are no UTF-8) may need or suffer escaping.
    recorder = one_connection_app.store.recorder
    every_byte = bytes(range(256))
    states = [every_byte, b'"\\,() {}\x00', b"", every_byte * 40]
    try:
        alone = [StoredEvent(uuid4(), 1, "test:Alone", state) for state in states]
        with_position = [StoredEvent(uuid4(), 1, "test:Tracked", state) for state in states]
        recorder.insert_events(alone)
        recorder.insert_events(with_position, trackings=[Tracking("upstream", 7)])

        for event in [*alone, *with_position]:
            assert recorder.select_events(event.originator_id) == [event]
        assert recorder.max_tracking_id("upstream") == 7
    finally:
        one_connection_app.close()


def test_processes_starting_at_once_on_a_new_store_all_start(
    tmp_path: Path, postgres_url: str
) -> None:
    # The parts of one deployment start together: each runs the library's set-up (its
    # CREATE OR REPLACE FUNCTION, its CREATE TYPE); unserialised, one met "tuple concurrently
    # updated" and died.
    starters = 6
    started, failed = concurrently(
        starters,
        lambda n: build_application(make_settings(tmp_path / str(n), postgres_url)),
        timeout=60,
    )
    try:
        assert failed == []
        assert len(started) == starters
        note = Note("written by the first, read by the last")
        started[0].store.save(note)
        assert started[-1].store.repository.get(note.id).text == note.text
    finally:
        for app in started:
            app.close()


PASSWORDS_ASKED: list[str] = []


def password() -> str:
    """POSTGRES_GET_PASSWORD_TOPIC's function (trust auth here: any password will do)."""
    PASSWORDS_ASKED.append("asked")
    return "from-a-vault"


def test_a_store_whose_password_comes_from_a_function_sets_up(
    tmp_path: Path, postgres_url: str
) -> None:
    # The set-up's own connection asks the function as the pool's connections do.
    PASSWORDS_ASKED.clear()
    app = build_application(
        make_settings(tmp_path, postgres_url),
        env={"POSTGRES_GET_PASSWORD_TOPIC": f"{__name__}:password"},
    )
    try:
        note = Note("stored")
        app.store.save(note)
        assert app.store.repository.get(note.id).text == "stored"
        assert PASSWORDS_ASKED
    finally:
        app.close()
