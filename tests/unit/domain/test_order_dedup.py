"""Deduplication by (topic, messageId) (contract 1.1): the same messageId on two topics is two
facts; a redelivery with the same facts records nothing; one with other facts is refused
(`conflicting-duplicate`) and the first delivery stands."""

from __future__ import annotations

import pytest
from tests.unit.domain.sales_orders import CAUSE, ORDER_ID, P, payment, sale

from gcp_domain.errors import ConflictingDuplicate
from gcp_domain.order import SalesOrder


def new_order() -> SalesOrder:
    order = SalesOrder(order_id=ORDER_ID, cause=CAUSE)
    order.collect_events()
    return order


def test_a_payment_that_reuses_its_orders_message_id_is_a_fact_of_its_own() -> None:
    order = new_order()
    assert sale("MSG-1").deliver(order)
    assert payment("PAY-1", P.PAYMENT_CAPTURED, message_id="MSG-1").deliver(order)
    assert "PAY-1" in order.payments
    assert [type(e).__name__ for e in order.collect_events()] == [
        "OrderMessageReceived",
        "PaymentReceived",
    ]


def test_a_redelivery_with_the_same_facts_records_nothing() -> None:
    order = new_order()
    assert payment("PAY-1", P.PAYMENT_CAPTURED, message_id="MSG-2").deliver(order)
    order.collect_events()
    assert not payment("PAY-1", P.PAYMENT_CAPTURED, message_id="MSG-2").deliver(order)
    assert sale("MSG-3").deliver(order)
    assert not sale("MSG-3").deliver(order)
    assert [type(e).__name__ for e in order.collect_events()] == ["OrderMessageReceived"]


@pytest.mark.parametrize(
    ("first", "again"),
    [
        (
            payment("PAY-1", P.PAYMENT_CAPTURED, message_id="M"),
            payment("PAY-1", P.PAYMENT_CAPTURED, "4000.00", message_id="M"),
        ),
        (
            payment("PAY-1", P.PAYMENT_CAPTURED, message_id="M"),
            payment("PAY-2", P.PAYMENT_CAPTURED, message_id="M"),
        ),
        (sale("M"), sale("M", event_type="ORDER_CANCELLED")),
    ],
    ids=["another amount", "another payment", "another event"],
)
def test_a_redelivery_with_other_facts_is_refused_and_the_first_stands(first, again) -> None:
    order = new_order()
    assert first.deliver(order)
    order.collect_events()
    with pytest.raises(ConflictingDuplicate) as refused:
        again.deliver(order)
    assert refused.value.code == "conflicting-duplicate"
    assert order.collect_events() == []
    assert not first.deliver(order)  # the first delivery's facts are still the recorded ones


def test_an_order_recorded_before_digests_takes_any_redelivery_as_a_plain_duplicate() -> None:
    order = new_order()
    payment("PAY-1", P.PAYMENT_CAPTURED, message_id="M").deliver(order)
    [received] = order.collect_events()
    state = dict(received.__dict__)
    del state["digest"]
    SalesOrder.PaymentReceived.upcast_v1_v2(state)
    assert state["digest"] is None
    order.messages[("payment", "M")] = None  # as replayed from such an event
    assert not payment("PAY-1", P.PAYMENT_CAPTURED, "1.00", message_id="M").deliver(order)
