"""`EventStore.save` collects our aggregates' events without the library's runtime
protocol checks: what it stores, and in which order, must be what the library's `save` stores."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from gcp_app.application import GiftCertificates


class Note(Aggregate):
    """A stand-in aggregate (any aggregate goes through `save`)."""

    def __init__(self, text: str) -> None:
        self.text = text

    @event("Rewritten")
    def rewrite(self, text: str) -> None:
        self.text = text


def _stored(app: GiftCertificates) -> list[tuple[UUID, int, str]]:
    return [
        (n.originator_id, n.originator_version, n.topic)
        for n in app.store.recorder.select_notifications(start=1, limit=100)
    ]


def _scenario(save: Callable[..., object]) -> list[Note]:
    first, second, third = Note("a"), Note("b"), Note("c")
    second.rewrite("b2")
    second.rewrite("b3")
    third.rewrite("c2")
    events = third.collect_events()  # handed over as events, not as an aggregate
    save(first, None, second)
    save(*events)
    return [first, second, third]


def test_save_stores_what_the_library_would_in_the_same_order(
    make_app: Callable[[], GiftCertificates],
) -> None:
    ours, reference = make_app(), make_app()
    notes = _scenario(ours.store.save)
    expected = _scenario(lambda *objs, **kw: Application.save(reference.store, *objs, **kw))
    stored, by_library = _stored(ours), _stored(reference)
    # Ours wrote the first six notifications; the library the last six (the same store but
    # in memory, where each app has its own).
    assert len(by_library) in (6, 12)
    ids = {n.id: i for i, n in enumerate(notes)} | {n.id: i for i, n in enumerate(expected)}
    assert [(ids[i], v, t) for i, v, t in stored[:6]] == [
        (ids[i], v, t) for i, v, t in by_library[-6:]
    ]
    assert [(ids[i], v) for i, v, _ in stored[:6]] == [
        (0, 1),
        (1, 1),
        (1, 2),
        (1, 3),
        (2, 1),
        (2, 2),
    ]
    assert all(n.collect_events() == [] for n in notes)
    assert ours.store.repository.get(notes[1].id).text == "b3"
    assert ours.store.repository.get(notes[2].id).text == "c2"


def test_save_passes_keyword_arguments_and_returns_the_recordings(
    app: GiftCertificates,
) -> None:
    note = Note("x")
    note.rewrite("y")
    recordings = app.store.save(note)
    assert [r.domain_event.originator_version for r in recordings] == [1, 2]
