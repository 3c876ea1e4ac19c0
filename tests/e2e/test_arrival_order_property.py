"""Order of arrival never matters, through Kafka, and each state change is published once.

One sale (WEB: two certificates, C1 for 5000.00 notified by EMAIL, C2 for 3000.00 without
notification), CRM's notification result for C1, a redemption of 1500.00 of C1 at a POS and the
refund of C2's purchase: eight messages on the three inbound topics, produced to one running
`gcp serve` in an order Kafka can really deliver, each one to three times (a redelivery has the
same messageId and bytes at a later offset of the same partition). The final state (the last
stream object of each certificate) must be the in-order single delivery's, and the stream must
carry every state change exactly once: no eventId twice (no faults are injected), and as many
publications per certificate as the store holds publishing events.

Which orders are real (see tests/integration/matching/test_arrival_order_property.py):

- the same key on the same topic is one partition, kept in produce order: the order's refund
  message (its full state after the refund request) follows its creation, and the refund
  payment's REFUND_PENDING then REFUND_COMPLETED follow the payment they refund;
- CRM answers NOTIFICATION_REQUESTED, so its result is produced only once the stream shows
  that request;
- a redemption is made with a certificate the buyer holds, so the later of its two halves (the
  order line, the REDEMPTION payment) is produced only once the stream shows C1 ISSUED.

Everything else may overtake anything: different topics and keys are different partitions, and
the consumer interleaves them as it polls. Every example uses fresh certificates, orders, payment
ids and a client id of its own, so examples never see each other's messages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.arrivals import draw_arrivals, sale_story_ready

from gcp_app.inbound import builders as build
from gcp_app.inbound.messages import ClientMessage, InboundMessage

EXAMPLES = 10
NAMES = (
    "sale",
    "paid",
    "sent",
    "use-line",
    "use-pay",
    "refund-line",
    "refund-pending",
    "refund-done",
)
# Same topic and key, so the same partition: produced (and so delivered) after these.
AFTER = {
    "refund-line": {"sale"},
    "refund-pending": {"paid"},
    "refund-done": {"paid", "refund-pending"},
}
# May a name be produced first now, given the messages produced before it?
ready = sale_story_ready(AFTER)
STATUSES = {
    "C1": Counter(
        ["RESERVED", "ISSUED", "NOTIFICATION_REQUESTED", "NOTIFICATION_SENT", "PARTIALLY_REDEEMED"]
    ),
    "C2": Counter(["RESERVED", "ISSUED", "REFUND_PENDING", "REFUNDED"]),
}
EXPECTED = {
    "C1": {
        "state": "ACTIVE",
        "redeemable": True,
        "amount": "5000.00",
        "remainingBalance": "3500.00",
        "currency": "RUB",
        "notification": ("SENT", 1, "EMAIL"),
        "refund": None,
        "lock": None,
        "reservation": None,
        "version": 6,
    },
    "C2": {
        "state": "REFUNDED",
        "redeemable": False,
        "amount": "3000.00",
        "remainingBalance": "0.00",
        "currency": "RUB",
        "notification": None,
        "refund": {"status": "COMPLETED", "amount": "3000.00"},
        "lock": None,
        "reservation": None,
        "version": 5,
    },
}


@attrs.frozen
class Scenario:
    certificates: dict[str, str]  # label -> certificateId
    messages: dict[str, tuple[str, InboundMessage]]  # name -> (topic, message), as produced
    keys: tuple[str, ...]  # the keys of every message (orders and the client)


def scenario(deployment: Any, kit: Any) -> Scenario:
    web, pos, client_id = kit.unique("WEB"), kit.unique("POS"), kit.unique("C")
    paid, used, refund = kit.unique("PAY"), kit.unique("PAY"), kit.unique("REF")
    first, second = deployment.reserve(web, 2)
    c1, c2 = first.certificate_id, second.certificate_id
    lines = [
        build.certificate_line(c1, "5000.00", notification_channel="EMAIL"),
        build.certificate_line(c2, "3000.00", notification_channel="NONE"),
    ]
    messages = {
        "sale": (kit.SALES, build.order(web, certificates=lines, customer=build.buyer(client_id))),
        "paid": (kit.PAYMENTS, build.payment(web, paid, "PAYMENT_CAPTURED", "8000.00")),
        "sent": (
            kit.CLIENTS,
            build.client_notification(
                c1,
                deployment.app.notification_ids.for_request(c1, 1),
                "SENT",
                client_id=client_id,
            ),
        ),
        "use-line": (
            kit.SALES,
            build.order(
                pos,
                channel="POS",
                redemptions=[build.redemption_line(first.number, "1500.00")],
                customer=build.buyer(client_id),
            ),
        ),
        "use-pay": (kit.PAYMENTS, build.redemption_payment(pos, used, first.number, "1500.00")),
        "refund-line": (
            kit.SALES,
            build.order(
                web,
                "ORDER_REFUND_REQUESTED",
                certificates=lines,
                refunds=[build.refund_line(c2)],
                customer=build.buyer(client_id),
            ),
        ),
        "refund-pending": (
            kit.PAYMENTS,
            build.payment(web, refund, "REFUND_PENDING", "3000.00", refund_of=paid),
        ),
        "refund-done": (
            kit.PAYMENTS,
            build.payment(web, refund, "REFUND_COMPLETED", "3000.00", refund_of=paid),
        ),
    }
    assert tuple(messages) == NAMES
    return Scenario({"C1": str(c1), "C2": str(c2)}, messages, (web, pos, client_id))


def deliver(deployment: Any, story: Scenario, sequence: list[str]) -> None:
    """Produces the messages in `sequence` (a name again is a redelivery: same bytes), waiting,
    before CRM's result and before the later half of the redemption, for what they answer."""
    c1 = story.certificates["C1"]
    produced: set[str] = set()
    for name in sequence:
        if name not in produced:
            if name == "sent":
                objects = deployment.wait_for_status(c1, "NOTIFICATION_REQUESTED")
                requested = [o.value for o in objects if o.status == "NOTIFICATION_REQUESTED"]
                result = story.messages["sent"][1]
                assert isinstance(result, ClientMessage)
                assert result.gift_certificate_notification is not None
                assert (
                    requested[-1]["notification"]["notificationId"]
                    == result.gift_certificate_notification.notification_id
                )
            if name in ("use-line", "use-pay") and {"use-line", "use-pay"} & produced:
                deployment.wait_for_status(c1, "ISSUED")
        topic, value = story.messages[name]
        deployment.send(topic, value)
        produced.add(name)


def final_state(deployment: Any, story: Scenario) -> dict[str, Any]:
    """The last stream object of each certificate, without what differs between sales (ids,
    times, and `status`/`operation`, which say what changed last)."""
    state = {}
    for label, certificate_id in story.certificates.items():
        last = deployment.stream.stream(certificate_id)[-1].value
        note, refund = last["notification"], last["refund"]
        state[label] = {
            "state": last["state"],
            "redeemable": last["redeemable"],
            "amount": last["amount"],
            "remainingBalance": last["remainingBalance"],
            "currency": last["currency"],
            "notification": note and (note["status"], note["attempt"], note["channel"]),
            "refund": refund and {"status": refund["status"], "amount": refund["amount"]},
            "lock": last["lock"],
            "reservation": last["reservation"],
            "version": last["version"],
        }
    return state


def check_published_once(deployment: Any, kit: Any, story: Scenario) -> None:
    for label, certificate_id in story.certificates.items():
        received = deployment.stream.stream(certificate_id)
        event_ids = Counter(r.value["eventId"] for r in received)
        twice = {event_id: n for event_id, n in event_ids.items() if n > 1}
        assert not twice, f"{label}: published more than once: {twice} in {received}"
        statuses = [r.status for r in received]
        assert statuses == deployment.published_statuses(certificate_id), label
        assert Counter(statuses) == STATUSES[label], f"{label}: {statuses}"
        assert statuses[0] == "RESERVED"
        versions = [r.value["version"] for r in received]
        assert versions == sorted(versions), f"{label}: versions out of order {versions}"
        for item in received:
            kit.check_schema(kit.STREAM, item.value)
            assert item.headers["eventId"] == item.value["eventId"]
            assert item.headers["status"] == item.value["status"]
    letters = [r for r in deployment.stream.dead_letters() if r.key.decode() in story.keys]
    assert letters == [], [r.value["reason"] for r in letters]


@pytest.fixture(scope="module")
def service(kit: Any, store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One `gcp serve` for every example of the module (per store)."""
    with kit.deployed(tmp_path_factory.mktemp("gcp"), store) as running:
        yield running


@pytest.fixture(scope="module")
def in_order(service: Any, kit: Any) -> dict[str, Any]:
    """The final state after the in-order single delivery, on the same service."""
    story = scenario(service, kit)
    deliver(service, story, list(NAMES))
    service.settle()
    check_published_once(service, kit, story)
    return final_state(service, story)


def test_the_in_order_delivery_ends_as_expected(in_order: dict[str, Any]) -> None:
    assert in_order == EXPECTED


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_real_arrival_order_with_redeliveries_ends_the_same_and_publishes_once(
    service: Any, kit: Any, in_order: dict[str, Any], data: Any
) -> None:
    story = scenario(service, kit)
    # Any order Kafka can produce (see the module's docstring), with redeliveries.
    sequence = draw_arrivals(data, NAMES, ready)

    deliver(service, story, sequence)
    service.settle()

    check_published_once(service, kit, story)
    assert final_state(service, story) == in_order == EXPECTED
