"""Each matching rule of CONTRACTS.md end to end, through the topics.

The channels, the payment system and CRM are played by the messages of gcp_app.inbound.builders
(the contract's examples), encoded by the Kafka adapter and produced to All_SalesOrder,
All_Payments and All_Clients (keys: orderId, clientId); `gcp serve` runs in its own process;
what it says is read by a real consumer of GiftCertificates.Stream and GiftCertificates.DLQ. One
service per store (SQLite, PostgreSQL) serves the whole module; every test sells certificates of
its own under fresh order ids.

After `settle()` the reader holds exactly what was published, so `check_stream` compares the
whole sequence of a certificate's publications (each once, in version order, valid against the
schema, headers right, one per publishing event in the store).
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from gcp_adapters.kafka.encoding import encode
from gcp_app.inbound import builders as build


def test_issue_publishes_issued_then_notification_requested_and_crm_result_is_recorded(
    deployment: Any, kit: Any
) -> None:
    order_id, payment_id = kit.unique("WEB"), kit.unique("PAY")
    (granted,) = deployment.reserve(order_id)
    certificate_id = granted.certificate_id
    line = build.certificate_line(certificate_id, "5000.00", notification_channel="EMAIL")

    deployment.send(kit.SALES, build.order(order_id, certificates=[line]))
    deployment.send(kit.PAYMENTS, build.payment(order_id, payment_id, "PAYMENT_AUTHORIZED"))
    requested = deployment.wait_for_status(certificate_id, "NOTIFICATION_REQUESTED")[-1].value
    notification_id = requested["notification"]["notificationId"]
    # CRM sent the CVC and says so on All_Clients (key: clientId).
    deployment.send(kit.CLIENTS, build.client_notification(certificate_id, notification_id, "SENT"))
    deployment.wait_for_status(certificate_id, "NOTIFICATION_SENT")
    deployment.settle()

    reserved, issued, requested, sent = deployment.check_stream(
        certificate_id, ["RESERVED", "ISSUED", "NOTIFICATION_REQUESTED", "NOTIFICATION_SENT"]
    )
    assert reserved["state"] == "RESERVED"
    assert reserved["remainingBalance"] is None
    assert reserved["reservation"]["orderId"] == order_id
    assert issued["state"] == "ACTIVE"
    assert issued["redeemable"] is True
    assert issued["number"] == granted.number
    assert issued["maskedNumber"].endswith(granted.number[-4:])
    assert (issued["orderId"], issued["channel"], issued["clientId"]) == (order_id, "WEB", "C-1")
    assert (issued["amount"], issued["remainingBalance"]) == ("5000.00", "5000.00")
    assert issued["currency"] == "RUB"
    assert issued["operation"] == {
        "type": "ISSUE",
        "orderId": order_id,
        "paymentId": payment_id,
        "paymentIds": [payment_id],
        "amount": "5000.00",
    }
    assert issued["reservation"] is None
    assert notification_id == deployment.app.notification_ids.for_request(certificate_id, 1)
    assert requested["notification"] == {
        "notificationId": notification_id,
        "channel": "EMAIL",
        "status": "REQUESTED",
        "attempt": 1,
        "error": None,
    }
    assert requested["operation"] is None
    assert sent["notification"]["status"] == "SENT"
    assert sent["notification"]["notificationId"] == notification_id
    assert sent["audit"]["updatedBy"] == "kafka:All_Clients"
    assert (sent["state"], sent["remainingBalance"]) == ("ACTIVE", "5000.00")


def test_a_partial_then_a_full_redemption(deployment: Any, kit: Any) -> None:
    sale = deployment.sell("5000.00")
    first_order, first_payment = kit.unique("POS"), kit.unique("PAY")
    second_order, second_payment = kit.unique("POS"), kit.unique("PAY")

    deployment.send(
        kit.SALES,
        build.order(
            first_order,
            channel="POS",
            redemptions=[build.redemption_line(sale.number, "1500.00")],
            total="2300.00",
        ),
    )
    deployment.send(
        kit.PAYMENTS, build.redemption_payment(first_order, first_payment, sale.number, "1500.00")
    )
    deployment.wait_for_status(sale.certificate_id, "PARTIALLY_REDEEMED")
    # The second one: payment first, then the order (arrival order does not matter).
    deployment.send(
        kit.PAYMENTS, build.redemption_payment(second_order, second_payment, sale.number, "3500.00")
    )
    deployment.send(
        kit.SALES,
        build.order(
            second_order, channel="POS", redemptions=[build.redemption_line(sale.number, "3500.00")]
        ),
    )
    deployment.wait_for_status(sale.certificate_id, "REDEEMED")
    deployment.settle()

    *_, partial, full = deployment.check_stream(
        sale.certificate_id, ["RESERVED", "ISSUED", "PARTIALLY_REDEEMED", "REDEEMED"]
    )
    assert (partial["state"], partial["redeemable"]) == ("ACTIVE", True)
    assert partial["remainingBalance"] == "3500.00"
    assert partial["operation"] == {
        "type": "REDEMPTION",
        "orderId": first_order,
        "paymentId": first_payment,
        "amount": "1500.00",
    }
    assert (full["state"], full["redeemable"]) == ("REDEEMED", False)
    assert full["remainingBalance"] == "0.00"
    assert full["amount"] == "5000.00"
    assert full["operation"] == {
        "type": "REDEMPTION",
        "orderId": second_order,
        "paymentId": second_payment,
        "amount": "3500.00",
    }


def test_a_redemption_whose_amounts_disagree_is_rejected(deployment: Any, kit: Any) -> None:
    sale = deployment.sell("5000.00")
    pos, payment_id = kit.unique("POS"), kit.unique("PAY")

    deployment.send(
        kit.SALES,
        build.order(
            pos, channel="POS", redemptions=[build.redemption_line(sale.number, "1000.00")]
        ),
    )
    deployment.send(kit.PAYMENTS, build.redemption_payment(pos, payment_id, sale.number, "1200.00"))
    deployment.wait_for_status(sale.certificate_id, "REDEMPTION_REJECTED")
    deployment.settle()

    *_, rejected = deployment.check_stream(
        sale.certificate_id, ["RESERVED", "ISSUED", "REDEMPTION_REJECTED"]
    )
    assert rejected["reason"] == "AMOUNT_MISMATCH"
    assert (rejected["state"], rejected["remainingBalance"]) == ("ACTIVE", "5000.00")
    assert rejected["operation"]["type"] == "REDEMPTION_ATTEMPT"
    assert rejected["operation"]["paymentId"] == payment_id
    assert rejected["operation"]["orderId"] == pos
    assert not _dead_letters_about(deployment, pos)


def test_a_refund_of_the_purchase_goes_pending_then_needs_details_then_completes(
    deployment: Any, kit: Any
) -> None:
    sale = deployment.sell("5000.00")
    refund_id = kit.unique("REF")

    deployment.send(
        kit.SALES,
        build.order(
            sale.order_id,
            "ORDER_REFUND_REQUESTED",
            certificates=sale.lines,
            refunds=[build.refund_line(sale.certificate_id)],
        ),
    )
    for step in ("REFUND_PENDING", "REFUND_PENDING_DETAILS", "REFUND_COMPLETED"):
        deployment.send(
            kit.PAYMENTS,
            build.payment(sale.order_id, refund_id, step, "5000.00", refund_of=sale.payment_id),
        )
    deployment.wait_for_status(sale.certificate_id, "REFUNDED")
    deployment.settle()

    *_, pending, details, refunded = deployment.check_stream(
        sale.certificate_id,
        ["RESERVED", "ISSUED", "REFUND_PENDING", "REFUND_PENDING_DETAILS", "REFUNDED"],
    )
    for waiting in (pending, details):
        assert (waiting["state"], waiting["redeemable"]) == ("REFUND_PENDING", False)
        assert waiting["remainingBalance"] == "5000.00"
    assert pending["refund"]["status"] == "PENDING"
    assert pending["refund"]["paymentId"] == refund_id
    assert details["refund"]["status"] == "PENDING_DETAILS"
    assert (refunded["state"], refunded["redeemable"]) == ("REFUNDED", False)
    assert refunded["remainingBalance"] == "0.00"
    assert refunded["refund"] == {
        "status": "COMPLETED",
        "paymentId": refund_id,
        "amount": "5000.00",
    }
    assert refunded["operation"] == {
        "type": "REFUND",
        "orderId": sale.order_id,
        "paymentId": refund_id,
        "amount": "5000.00",
    }


def test_a_refund_of_a_redemption_reverses_it(deployment: Any, kit: Any) -> None:
    sale = deployment.sell("5000.00")
    pos, redemption_id, reversal_id = kit.unique("POS"), kit.unique("PAY"), kit.unique("REV")

    deployment.send(
        kit.SALES,
        build.order(
            pos, channel="POS", redemptions=[build.redemption_line(sale.number, "1500.00")]
        ),
    )
    deployment.send(
        kit.PAYMENTS, build.redemption_payment(pos, redemption_id, sale.number, "1500.00")
    )
    deployment.send(
        kit.PAYMENTS,
        build.payment(
            pos,
            reversal_id,
            "REFUND_COMPLETED",
            "1000.00",
            method="GIFT_CERTIFICATE",
            certificate_number=sale.number,
            refund_of=redemption_id,
        ),
    )
    deployment.wait_for_status(sale.certificate_id, "REDEMPTION_REVERSED")
    deployment.settle()

    *_, redeemed, reversed_ = deployment.check_stream(
        sale.certificate_id, ["RESERVED", "ISSUED", "PARTIALLY_REDEEMED", "REDEMPTION_REVERSED"]
    )
    assert redeemed["remainingBalance"] == "3500.00"
    assert (reversed_["state"], reversed_["redeemable"]) == ("ACTIVE", True)
    assert reversed_["remainingBalance"] == "4500.00"
    assert reversed_["operation"] == {
        "type": "REDEMPTION_REVERSAL",
        "orderId": pos,
        "paymentId": reversal_id,
        "refundOf": redemption_id,
        "amount": "1000.00",
    }


def test_a_failed_payment_before_issue_releases_the_reservation(deployment: Any, kit: Any) -> None:
    order_id = kit.unique("WEB")
    (granted,) = deployment.reserve(order_id)
    line = build.certificate_line(granted.certificate_id, "3000.00")

    deployment.send(kit.SALES, build.order(order_id, certificates=[line]))
    deployment.send(
        kit.PAYMENTS, build.payment(order_id, kit.unique("PAY"), "PAYMENT_FAILED", "3000.00")
    )
    deployment.wait_for_status(granted.certificate_id, "RESERVATION_RELEASED")
    deployment.settle()

    _, released = deployment.check_stream(
        granted.certificate_id, ["RESERVED", "RESERVATION_RELEASED"]
    )
    assert released["state"] == "AVAILABLE"
    assert released["reason"] == "PAYMENT_FAILED"
    assert released["reservation"] is None
    assert (released["remainingBalance"], released["issuedAt"]) == (None, None)


def test_an_order_cancelled_after_issue_cancels_the_certificate(deployment: Any, kit: Any) -> None:
    sale = deployment.sell("2000.00")

    deployment.send(
        kit.SALES, build.order(sale.order_id, "ORDER_CANCELLED", certificates=sale.lines)
    )
    deployment.wait_for_status(sale.certificate_id, "CANCELLED")
    deployment.settle()

    *_, cancelled = deployment.check_stream(
        sale.certificate_id, ["RESERVED", "ISSUED", "CANCELLED"]
    )
    assert (cancelled["state"], cancelled["redeemable"]) == ("CANCELLED", False)
    assert cancelled["reason"] == "ORDER_CANCELLED"


def test_a_message_that_is_not_json_is_dead_lettered_and_consumption_goes_on(
    deployment: Any, kit: Any
) -> None:
    order_id = kit.unique("WEB")
    bad = b'{"messageId": "m-1", "eventType": "PAYMENT_CAPTURED", "orderId": '
    sent = deployment.send(kit.PAYMENTS, bad, key=order_id)
    deployment.wait_for(
        lambda: bool(_dead_letters_about(deployment, order_id)), f"a dead letter of {sent}"
    )
    # The next records of the same partition, and of the others, are consumed as usual.
    sale = deployment.sell("1000.00", order_id=order_id)
    assert deployment.sent[-1].partition == sent.partition
    deployment.settle()

    (letter,) = _dead_letters_about(deployment, order_id)
    value = letter.value
    kit.check_schema(kit.DLQ, value)
    assert letter.key == order_id.encode()
    assert letter.headers == {
        "reasonCode": "not-json",
        "sourceTopic": kit.PAYMENTS,
        "deadLetterId": value["deadLetterId"],
    }
    assert value["reasonCode"] == "not-json"
    assert value["reason"]
    assert (value["sourceTopic"], value["sourcePartition"], value["sourceOffset"]) == (
        kit.PAYMENTS,
        sent.partition,
        sent.offset,
    )
    assert base64.b64decode(value["sourceValue"], validate=True) == bad
    assert base64.b64decode(value["sourceKey"], validate=True) == order_id.encode()
    assert value["messageId"] is None
    deployment.check_stream(sale.certificate_id, ["RESERVED", "ISSUED"])


def _dead_letters_about(deployment: Any, *keys: str) -> list[Any]:
    wanted = {key.encode() for key in keys}
    return [r for r in deployment.stream.dead_letters() if r.key in wanted]


def test_messages_the_service_cannot_act_on_are_dead_lettered_with_their_reason(
    deployment: Any, kit: Any
) -> None:
    order_id, client_id = kit.unique("WEB"), kit.unique("C")
    # No message object lacks its paymentId: this one is written by hand, as the builder's
    # payment on the wire without that field.
    no_payment_id = json.loads(encode(build.payment(order_id, "PAY-X", "PAYMENT_CAPTURED")))
    del no_payment_id["paymentId"]
    too_precise = build.payment(order_id, kit.unique("PAY"), "PAYMENT_CAPTURED", "10.005")
    unknown = build.client_notification(uuid.uuid4(), "not-requested", "SENT", client_id=client_id)
    broken = json.dumps(no_payment_id).encode()
    cases = [  # (where it landed, its messageId, the reason code)
        (
            deployment.send(kit.PAYMENTS, broken, key=order_id),
            no_payment_id["messageId"],
            "invalid-message",
        ),
        (deployment.send(kit.PAYMENTS, too_precise), too_precise.message_id, "invalid-money"),
        (deployment.send(kit.CLIENTS, unknown), unknown.message_id, "unknown-certificate"),
    ]
    deployment.wait_for(
        lambda: len(_dead_letters_about(deployment, order_id, client_id)) >= len(cases),
        "three dead letters",
    )
    deployment.settle()

    letters = {
        (r.value["sourceTopic"], r.value["sourcePartition"], r.value["sourceOffset"]): r
        for r in _dead_letters_about(deployment, order_id, client_id)
    }
    assert len(letters) == len(cases)
    for source, message_id, code in cases:
        letter = letters[(source.topic, source.partition, source.offset)].value
        kit.check_schema(kit.DLQ, letter)
        assert (letter["reasonCode"], letter["messageId"]) == (code, message_id)
        assert base64.b64decode(letter["sourceValue"]) == source.value
