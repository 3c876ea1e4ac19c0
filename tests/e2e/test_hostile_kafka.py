"""Hostile and careless input on the inbound topics, end to end (issue: "no message stops
publishing"). Each case sends what broke GCP before, then checks the documented answer and
that a normal sale's ISSUED still reaches the stream, with readiness telling the truth.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx

from gcp_adapters.kafka.encoding import encode
from gcp_app.inbound import builders as build


def ready(deployment: Any) -> tuple[int, dict[str, Any]]:
    """GET /health/ready of the service."""
    assert deployment.service is not None
    [url] = [line.split()[1] for line in deployment.service.lines if line.startswith("http: ")]
    response = httpx.get(f"{url}/health/ready", timeout=10)
    return response.status_code, response.json()


def dead_letter_of(deployment: Any, kit: Any, sent: Any) -> dict[str, Any]:
    def found() -> list[dict[str, Any]]:
        return [
            d.value
            for d in deployment.stream.dead_letters()
            if (d.value["sourceTopic"], d.value["sourcePartition"], d.value["sourceOffset"])
            == (sent.topic, sent.partition, sent.offset)
        ]

    deployment.wait_for(lambda: len(found()) == 1, f"the dead letter of {sent}")
    [letter] = found()
    kit.check_schema(kit.DLQ, letter)
    return letter


def test_an_800_kb_record_is_dead_lettered_in_part_and_a_sale_still_publishes(
    deployment: Any, kit: Any
) -> None:
    raw = b"\x00not json " + bytes(range(256)) * 3125  # 800,010 bytes
    sent = deployment.send(kit.PAYMENTS, raw, key="WEB-HUGE")

    sale = deployment.sell()

    letter = dead_letter_of(deployment, kit, sent)
    assert letter["reasonCode"] == "not-json"
    assert base64.b64decode(letter["sourceValue"]) == raw[: 64 * 1024]
    assert (letter["sourceSize"], letter["sourceSha256"]) == (
        len(raw),
        hashlib.sha256(raw).hexdigest(),
    )
    assert "ISSUED" in deployment.stream.statuses(sale.certificate_id)
    status, answer = ready(deployment)
    assert status == 200, answer
    assert answer["checks"]["relay"] == answer["checks"]["consumer"] == "ok"


def test_a_600_kb_delivery_error_is_published_cut_and_a_sale_still_publishes(
    deployment: Any, kit: Any
) -> None:
    notified = deployment.sell(channel="EMAIL")
    requested = deployment.wait_for_status(notified.certificate_id, "NOTIFICATION_REQUESTED")
    notification_id = requested[-1].value["notification"]["notificationId"]
    error = "mailbox full; " * 45_000  # 630,000 characters
    deployment.send(
        kit.CLIENTS,
        build.client_notification(notified.certificate_id, notification_id, "FAILED", error=error),
    )

    failed = deployment.wait_for_status(notified.certificate_id, "NOTIFICATION_FAILED")[-1]
    assert failed.value["notification"]["error"] == error[:1000]
    assert len(failed.raw) < 10_000
    sale = deployment.sell()
    assert "ISSUED" in deployment.stream.statuses(sale.certificate_id)
    assert ready(deployment)[0] == 200


def test_a_10_kb_message_id_is_dead_lettered_with_it_cut(deployment: Any, kit: Any) -> None:
    sale = deployment.sell()
    message_id = "m" * 10_000
    payment = build.payment(sale.order_id, kit.unique("PAY"), message_id=message_id)
    sent = deployment.send(kit.PAYMENTS, encode(payment), key=sale.order_id)

    letter = dead_letter_of(deployment, kit, sent)
    assert letter["reasonCode"] == "invalid-message"
    assert "messageId must be at most 200 characters" in letter["reason"]
    assert letter["messageId"] == message_id[:200]
    again = deployment.sell()
    assert "ISSUED" in deployment.stream.statuses(again.certificate_id)
