"""What every batch guarantees: messages not about certificates are ignored, broken ones become
dead letters with their bytes, and each message is applied exactly once (positions and
messageIds), also across a restart."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tests.integration.conftest import DURABLE

from gcp_app.application import GiftCertificates
from gcp_app.dead_letters import DeadLetter, dead_letter_id, dead_letter_message
from gcp_app.inbound import Envelope, InboundBatches, Outcome, Problem
from gcp_app.inbound import builders as build
from gcp_domain import CertificateState

S = CertificateState
A = Outcome.APPLIED
ORDER = "WEB-100045"


# ---------------------------------------------------------------------- not about certificates


def test_an_order_without_certificate_lines_is_ignored(gcp: Any) -> None:
    recorded = gcp.recorded()

    assert gcp.each(build.order("WEB-1", event_type="ORDER_CREATED")) == [Outcome.IGNORED]
    assert gcp.each(build.order("WEB-2", event_type="ORDER_CANCELLED")) == [Outcome.IGNORED]

    assert gcp.recorded() == recorded


def test_a_client_message_without_the_block_is_ignored(gcp: Any) -> None:
    recorded = gcp.recorded()

    assert gcp.each(build.client_update()) == [Outcome.IGNORED]

    assert gcp.recorded() == recorded


def test_an_unknown_payment_event_type_is_ignored(gcp: Any) -> None:
    (granted,) = gcp.stock.reserve(order_id=ORDER)
    gcp.each(build.order(ORDER, certificates=[build.certificate_line(granted.certificate_id)]))
    recorded = gcp.recorded()

    outcomes = gcp.each(build.payment(ORDER, "PAY-1", "PAYMENT_SETTLED_SOMEHOW"))

    assert outcomes == [Outcome.IGNORED]
    assert gcp.recorded() == recorded
    assert gcp.certificate(granted.certificate_id).state is S.RESERVED


def test_an_envelope_without_a_message_is_ignored(gcp: Any) -> None:
    envelope = Envelope("All_Payments", 0, 0, b"k", b"{}")

    assert gcp.handle([envelope]) == [Outcome.IGNORED]
    assert gcp.recorded() == 0
    assert gcp.matcher.position("All_Payments", 0) == 0  # consumed all the same


# ---------------------------------------------------------------------- dead letters


def test_an_undecodable_message_is_dead_lettered_with_its_bytes(gcp: Any) -> None:
    value = b'\xff\xfe{"messageId": not json'
    problem = Problem("not-json", "the value is not a JSON object")
    gcp.envelopes.broken("All_Payments", b"{}", problem, key=b"x")  # offset 0
    envelope = gcp.envelopes.broken("All_Payments", value, problem, key=b"WEB-1", partition=0)

    handled = gcp.handled([envelope])

    assert [h.outcome for h in handled] == [Outcome.DEAD_LETTERED]
    assert handled[0].problem == problem
    letter: Any = gcp.app.store.repository.get(dead_letter_id("All_Payments", 0, 1))
    assert isinstance(letter, DeadLetter)
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        "All_Payments",
        0,
        1,
    )
    assert base64.b64decode(letter.source_value) == value
    assert base64.b64decode(letter.source_key) == b"WEB-1"
    assert letter.message_id is None
    assert (letter.reason_code, letter.reason) == ("not-json", "the value is not a JSON object")
    (event,) = gcp.app.store.events.get(letter.id)
    assert event.cause.actor == "kafka:All_Payments"
    assert event.cause.causation_id == "offset-1"
    dlq = dead_letter_message(letter, datetime(2026, 11, 26, tzinfo=UTC))
    assert dlq.key == b"WEB-1"
    assert dlq.value["sourceValue"] == base64.b64encode(value).decode()
    assert dlq.value["reasonCode"] == "not-json"
    assert dlq.headers["sourceTopic"] == "All_Payments"


def test_a_dead_letter_with_no_key_or_value(gcp: Any) -> None:
    envelope = gcp.envelopes.broken("All_SalesOrder", None, Problem("not-json", "empty"))

    assert gcp.handle([envelope]) == [Outcome.DEAD_LETTERED]

    (letter,) = gcp.dead_letters()
    assert (letter.source_key, letter.source_value) == (None, None)


def test_a_bad_message_does_not_stop_its_batch(gcp: Any) -> None:
    (granted,) = gcp.stock.reserve(order_id=ORDER)
    batch = [
        gcp.envelopes(
            build.order(ORDER, certificates=[build.certificate_line(granted.certificate_id)])
        ),
        gcp.envelopes.broken("All_Payments", b"?", Problem("not-json", "not JSON")),
        gcp.envelopes(build.payment(ORDER, "PAY-1")),
    ]

    assert gcp.handle(batch) == [A, Outcome.DEAD_LETTERED, A]

    assert gcp.certificate(granted.certificate_id).state is S.ACTIVE
    assert len(gcp.dead_letters()) == 1


# ---------------------------------------------------------------------- exactly once


def sale(gcp: Any) -> tuple[Any, list[Envelope]]:
    (granted,) = gcp.stock.reserve(order_id=ORDER)
    cid = granted.certificate_id
    batch = [
        gcp.envelopes(build.order(ORDER, certificates=[build.certificate_line(cid)])),
        gcp.envelopes(build.payment(ORDER, "PAY-1")),
        gcp.envelopes(
            build.client_notification(cid, gcp.app.notification_ids.for_request(cid, 1), "SENT")
        ),
        gcp.envelopes.broken("All_Payments", b"?", Problem("not-json", "not JSON")),
    ]
    assert gcp.handle(batch) == [A, A, A, Outcome.DEAD_LETTERED]
    return granted, batch


def test_the_same_envelopes_again_are_already_consumed(gcp: Any) -> None:
    granted, batch = sale(gcp)
    recorded = gcp.recorded()

    assert gcp.handle(batch) == [Outcome.ALREADY_CONSUMED] * 4
    assert gcp.handle(batch[1:3]) == [Outcome.ALREADY_CONSUMED] * 2

    assert gcp.recorded() == recorded
    assert gcp.statuses(granted.certificate_id) == [
        "RESERVED",
        "ISSUED",
        "NOTIFICATION_REQUESTED",
        "NOTIFICATION_SENT",
    ]
    assert len(gcp.dead_letters()) == 1


def test_a_fresh_matcher_reads_the_positions_from_the_store(gcp: Any) -> None:
    _, batch = sale(gcp)
    recorded = gcp.recorded()

    matcher = InboundBatches(gcp.app)
    assert [h.outcome for h in matcher.handle(batch)] == [Outcome.ALREADY_CONSUMED] * 4
    assert matcher.position("All_SalesOrder", 0) == 0
    assert matcher.position("All_Payments", 0) == 1
    assert matcher.position("All_Clients", 0) == 0
    assert matcher.position("All_Clients", 1) is None
    assert gcp.recorded() == recorded


@DURABLE
def test_after_a_restart_nothing_is_applied_twice(
    gcp: Any, make_app: Callable[[], GiftCertificates]
) -> None:
    granted, batch = sale(gcp)
    recorded = gcp.recorded()
    gcp.app.close()

    restarted = type(gcp)(make_app(), gcp.envelopes)

    assert restarted.handle(batch) == [Outcome.ALREADY_CONSUMED] * 4
    assert restarted.recorded() == recorded
    assert restarted.matcher.position("All_Payments", 0) == batch[3].offset
    # And the next offsets go on from there.
    outcomes = restarted.each(
        build.payment(ORDER, "PAY-1", "PAYMENT_CAPTURED"),  # a new messageId: a redelivery
        build.order("POS-9", redemptions=[build.redemption_line(granted.number, "100.00")]),
        build.redemption_payment("POS-9", "PAY-80", granted.number, "100.00"),
    )
    assert outcomes == [A, A, A]
    assert restarted.certificate(granted.certificate_id).balance == 4900
    assert restarted.statuses(granted.certificate_id).count("ISSUED") == 1


def test_a_duplicate_message_id_at_a_new_offset_records_nothing(gcp: Any) -> None:
    (granted,) = gcp.stock.reserve(order_id=ORDER)
    cid = granted.certificate_id
    order = build.order(ORDER, certificates=[build.certificate_line(cid)])
    payment = build.payment(ORDER, "PAY-1")
    result = build.client_notification(cid, gcp.app.notification_ids.for_request(cid, 1), "SENT")
    gcp.each(order, payment, result)
    recorded = gcp.recorded()

    outcomes = gcp.deliver(order, payment, result)
    outcomes += gcp.each(order, payment)

    assert outcomes == [Outcome.DUPLICATE] * 5
    assert gcp.recorded() == recorded


def test_a_duplicate_within_one_batch_counts_once(gcp: Any) -> None:
    (granted,) = gcp.stock.reserve(order_id=ORDER)
    order = build.order(ORDER, certificates=[build.certificate_line(granted.certificate_id)])
    payment = build.payment(ORDER, "PAY-1")

    outcomes = gcp.deliver(order, payment, payment, order)

    assert outcomes == [A, A, Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert gcp.statuses(granted.certificate_id) == ["RESERVED", "ISSUED", "NOTIFICATION_REQUESTED"]


def test_positions_are_kept_per_partition(gcp: Any) -> None:
    (granted,) = gcp.stock.reserve(order_id=ORDER)
    for _ in range(5):
        gcp.envelopes(build.order("WEB-X"), partition=0)  # offsets 0-4 of partition 0
    ahead = gcp.envelopes(build.order("WEB-X"), partition=0)
    assert gcp.handle([ahead]) == [Outcome.IGNORED]

    order = gcp.envelopes(
        build.order(ORDER, certificates=[build.certificate_line(granted.certificate_id)]),
        partition=1,
    )
    payment = gcp.envelopes(build.payment(ORDER, "PAY-1"), partition=3)

    assert gcp.handle([order, payment]) == [A, A]
    assert (order.offset, payment.offset) == (0, 0)
    assert gcp.certificate(granted.certificate_id).state is S.ACTIVE
    # An offset at or below the recorded one of that partition is consumed already.
    stale = gcp.envelopes(build.payment(ORDER, "PAY-2"), partition=0)
    stale = Envelope(stale.topic, 0, 0, stale.key, stale.value, message=stale.message)
    assert gcp.handle([stale]) == [A]  # All_Payments/0 had nothing recorded yet
    assert gcp.handle([stale]) == [Outcome.ALREADY_CONSUMED]


def test_a_change_by_another_writer_between_batches_is_seen(gcp: Any) -> None:
    """The matcher remembers aggregates across batches; a certificate changed meanwhile by an
    HTTP command must not be judged on the remembered copy (a refusal writes nothing to the
    certificate, so no version conflict would catch it)."""
    granted, order_id = gcp.sell("5000.00")
    cid = granted.certificate_id
    gcp.lock(cid)
    gcp.each(  # the matcher now holds the certificate as LOCKED
        build.order("POS-9", redemptions=[build.redemption_line(granted.number, "1.00")]),
        build.redemption_payment("POS-9", "PAY-80", granted.number, "1.00"),
    )
    assert gcp.object(cid)["reason"] == "LOCKED"
    gcp.unlock(cid)

    outcomes = gcp.each(
        build.order(
            order_id,
            certificates=[build.certificate_line(cid, "5000.00", notification_channel="NONE")],
            refunds=[build.refund_line(cid)],
            event_type="ORDER_REFUND_REQUESTED",
        ),
        build.payment(order_id, "REF-1", "REFUND_PENDING", "5000.00", refund_of="PAY-1"),
    )

    assert outcomes == [A, A]
    assert gcp.dead_letters() == []
    assert gcp.certificate(cid).state is S.REFUND_PENDING


# ---------------------------------------------------------------------- (topic, messageId)


def test_a_payment_reusing_its_orders_message_id_is_applied(gcp: Any) -> None:
    """Contract 1.1: deduplication is by (topic, messageId); the same messageId on
    All_SalesOrder and All_Payments is two facts."""
    (granted,) = gcp.stock.reserve(order_id="WEB-SAME-ID")
    line = build.certificate_line(granted.certificate_id, "5000.00", notification_channel="NONE")
    order = build.order("WEB-SAME-ID", certificates=[line], message_id="MSG-SHARED")
    paid = build.payment("WEB-SAME-ID", "PAY-SAME", message_id="MSG-SHARED")

    assert gcp.each(order, paid) == [A, A]
    assert gcp.certificate(granted.certificate_id).state is S.ACTIVE
    assert gcp.dead_letters() == []


def test_a_redelivery_with_other_facts_is_dead_lettered_and_the_first_stands(gcp: Any) -> None:
    (granted,) = gcp.stock.reserve(order_id="WEB-CONFLICT")
    line = build.certificate_line(granted.certificate_id, "5000.00", notification_channel="NONE")
    order = build.order("WEB-CONFLICT", certificates=[line])
    paid = build.payment("WEB-CONFLICT", "PAY-C1", amount="5000.00", message_id="MSG-C1")
    other = build.payment("WEB-CONFLICT", "PAY-C1", amount="4000.00", message_id="MSG-C1")

    assert gcp.each(order, paid, paid, other) == [A, A, Outcome.DUPLICATE, Outcome.DEAD_LETTERED]

    [letter] = gcp.dead_letters()
    assert letter.reason_code == "conflicting-duplicate"
    assert "MSG-C1" in letter.reason
    certificate = gcp.certificate(granted.certificate_id)
    assert (certificate.state, certificate.balance) == (S.ACTIVE, 5000)
