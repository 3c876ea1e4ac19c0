"""Order of arrival never matters: one sale's messages, in any order a consumer can see them,
each delivered one to three times, in batches of any size, end where the in-order delivery ends.

The scenario (two certificates sold by WEB-1, one redeemed and partly reversed at POS-9, the
other's purchase refunded) has no message whose effect legitimately depends on arrival order
(no failure, void or cancellation), so the certificates' event topics must be the same too.

The orders drawn are those Kafka can deliver. A message is free to overtake any other, except:

- a refund of a payment (`REFUND_*` of REF-1 refunding PAY-1, the reversal REV-1 refunding
  PAY-80) follows that payment, and REFUND_COMPLETED follows REFUND_PENDING: they are the same
  key on the same topic, one partition, in the order the payment system produced them;
- the notification result answers GCP's NOTIFICATION_REQUESTED, so it comes after the sale's
  issue (its payment and an order message listing the lines have been consumed);
- the redemption is made with a certificate the buyer received, so the later of its two halves
  (order line, REDEMPTION payment) comes after the issue.

Redeliveries of a message (same messageId, a new offset) come anywhere after its first delivery.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.arrivals import draw_arrivals, sale_story_ready

from gcp_app.inbound import Envelope, Outcome
from gcp_app.inbound import builders as build
from gcp_app.inbound.messages import InboundMessage

EXAMPLES = min(settings().max_examples, 50)
WEB, POS = "WEB-1", "POS-9"


@attrs.frozen
class Scenario:
    names: dict[str, str]  # certificate label -> certificateId
    messages: dict[str, InboundMessage]  # in the order they were produced


def scenario(gcp: Any) -> Scenario:
    first, second = gcp.stock.reserve(2, order_id=WEB)
    c1, c2 = first.certificate_id, second.certificate_id
    lines = [
        build.certificate_line(c1, "5000.00"),
        build.certificate_line(c2, "3000.00", notification_channel="NONE"),
    ]
    produced = {
        "sale": build.order(WEB, certificates=lines),
        "paid": build.payment(WEB, "PAY-1", "PAYMENT_CAPTURED", "8000.00"),
        "sent": build.client_notification(c1, gcp.app.notification_ids.for_request(c1, 1), "SENT"),
        "use-line": build.order(POS, redemptions=[build.redemption_line(first.number, "1500.00")]),
        "use-pay": build.redemption_payment(POS, "PAY-80", first.number, "1500.00"),
        "refund-line": build.order(
            WEB,
            certificates=lines,
            refunds=[build.refund_line(c2)],
            event_type="ORDER_REFUND_REQUESTED",
        ),
        "refund-pending": build.payment(
            WEB, "REF-1", "REFUND_PENDING", "3000.00", refund_of="PAY-1"
        ),
        "refund-done": build.payment(
            WEB, "REF-1", "REFUND_COMPLETED", "3000.00", refund_of="PAY-1"
        ),
        "reversal": build.payment(
            POS,
            "REV-1",
            "REFUND_COMPLETED",
            "1000.00",
            method="GIFT_CERTIFICATE",
            certificate_number=first.number,
            refund_of="PAY-80",
        ),
    }
    return Scenario({"C1": str(c1), "C2": str(c2)}, produced)


# May a name be delivered first now, given the messages delivered before it?
ready = sale_story_ready(
    {
        "refund-pending": {"paid"},
        "refund-done": {"paid", "refund-pending"},
        "reversal": {"use-pay"},
    }
)


def final_state(gcp: Any, names: dict[str, str]) -> dict[str, Any]:
    state = {}
    for label, certificate_id in names.items():
        certificate = gcp.app.get_certificate(certificate_id)
        current = gcp.object(certificate.id)
        state[label] = {
            "state": str(certificate.state),
            "balance": certificate.balance,
            "refund": current["refund"],
            "notification": current["notification"] and current["notification"]["status"],
            "redemptions": {
                payment_id: (r.amount, r.reversed)
                for payment_id, r in certificate.redemptions.items()
            },
        }
    return state


def event_topics(gcp: Any, names: dict[str, str]) -> dict[str, Counter[str]]:
    return {
        label: Counter(
            e.topic
            for e in gcp.app.store.recorder.select_events(
                gcp.app.get_certificate(certificate_id).id
            )
        )
        for label, certificate_id in names.items()
    }


EXPECTED = {
    "C1": {
        "state": "ACTIVE",
        "balance": 4500,
        "refund": None,
        "notification": "SENT",
        "redemptions": {"PAY-80": (1500, 1000)},
    },
    "C2": {
        "state": "REFUNDED",
        "balance": 0,
        "refund": {"status": "COMPLETED", "paymentId": "REF-1", "amount": "3000.00"},
        "notification": None,
        "redemptions": {},
    },
}


G = "gcp:GiftCertificate."
EXPECTED_TOPICS = {
    "C1": Counter(
        G + name
        for name in (
            "Created",
            "Reserved",
            "Issued",
            "NotificationRequested",
            "NotificationSent",
            "RedemptionApplied",
            "RedemptionReversed",
        )
    ),
    "C2": Counter(
        G + name for name in ("Created", "Reserved", "Issued", "RefundPending", "RefundCompleted")
    ),
}


def run_in_order(fresh_gcp: Callable[[], Any]) -> tuple[Any, Any]:
    gcp = fresh_gcp()
    try:
        story = scenario(gcp)
        outcomes = gcp.each(*story.messages.values())
        assert outcomes == [Outcome.APPLIED] * len(story.messages)
        return final_state(gcp, story.names), event_topics(gcp, story.names)
    finally:
        gcp.app.close()


def test_the_in_order_delivery_ends_as_expected(fresh_gcp: Any) -> None:
    state, topics = run_in_order(fresh_gcp)

    assert state == EXPECTED
    assert topics == EXPECTED_TOPICS


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_arrival_order_ends_the_same(fresh_gcp: Any, data: Any) -> None:
    gcp = fresh_gcp()
    try:
        story = scenario(gcp)
        names = list(story.messages)

        # Any order Kafka can produce (see the module's docstring), with redeliveries.
        sequence = draw_arrivals(data, names, ready)
        # Batches of any size (consumer polls).
        batches: list[list[Envelope]] = []
        rest = [gcp.envelopes(story.messages[name]) for name in sequence]
        while rest:
            size = data.draw(st.integers(1, len(rest)), label="batch")
            batches.append(rest[:size])
            rest = rest[size:]

        outcomes = [outcome for batch in batches for outcome in gcp.handle(batch)]

        assert Outcome.DEAD_LETTERED not in outcomes
        assert outcomes.count(Outcome.APPLIED) == len(names)
        assert outcomes.count(Outcome.DUPLICATE) == len(sequence) - len(names)
        assert gcp.dead_letters() == []
        assert final_state(gcp, story.names) == EXPECTED
        assert event_topics(gcp, story.names) == EXPECTED_TOPICS
        # Re-reading the same offsets applies nothing.
        recorded = gcp.recorded()
        assert {o for batch in batches for o in gcp.handle(batch)} == {Outcome.ALREADY_CONSUMED}
        assert gcp.recorded() == recorded
    finally:
        gcp.app.close()
