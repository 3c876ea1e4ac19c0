"""Events stored before a class version was raised still read, through the store's own mapper:
what a replay of an old store meets (the upcasters' unit tests call them directly)."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import StoredEvent
from tests.unit.domain.sales_orders import new_order, payment, sale

from gcp_app.application import GiftCertificates
from gcp_app.dead_letters import DeadLetter
from gcp_domain import Cause
from gcp_domain.order import SalesOrder
from gcp_domain.vocabulary import PaymentEvent


def _as_version_1(app: GiftCertificates, event: DomainEvent, *dropped: str) -> DomainEvent:
    """`event` written as class version 1 wrote it (without `dropped`), then read back."""
    mapper: Any = app.store.mapper
    stored = mapper.to_stored_event(event)
    state = mapper.transcoder.decode(stored.state)
    assert state.pop("class_version") == 2
    for name in dropped:
        del state[name]
    old = StoredEvent(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=mapper.transcoder.encode(state),
    )
    read: DomainEvent = mapper.to_domain_event(old)
    return read


def test_a_sales_orders_messages_stored_before_digests_read_with_none(
    app: GiftCertificates,
) -> None:
    order = new_order()
    sale().deliver(order)
    payment("PAY-1", PaymentEvent.PAYMENT_CAPTURED).deliver(order)
    _, ordered, paid = order.collect_events()

    for event, kind in (
        (ordered, SalesOrder.OrderMessageReceived),
        (paid, SalesOrder.PaymentReceived),
    ):
        read: Any = _as_version_1(app, event, "digest")
        assert type(read) is kind
        assert read.digest is None
        assert read.message_id == event.message_id  # type: ignore[attr-defined]


def test_a_dead_letter_stored_before_sizes_reads_with_none(app: GiftCertificates) -> None:
    letter = DeadLetter.record(
        topic="All_Payments",
        partition=0,
        offset=7,
        key=b"WEB-1",
        value=b"{not json",
        message_id=None,
        reason_code="invalid-message",
        reason="not JSON",
        cause=Cause("kafka:All_Payments", "offset-7", "offset-7"),
    )
    [created] = letter.collect_events()

    read: Any = _as_version_1(app, created, "source_size", "source_sha256")
    assert type(read) is DeadLetter.Created
    assert (read.source_size, read.source_sha256) == (None, None)
    assert read.reason_code == "invalid-message"
