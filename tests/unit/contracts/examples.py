"""CONTRACTS.md's examples of the inbound messages, with the "<id>" placeholders filled in.

One copy for every test that needs them: the schema tests (tests/unit/contracts), the decoder's
and encoder's tests and the consumer's (tests/integration/kafka). Each call returns a fresh
document: keyword arguments fill the placeholders, and `fields` replaces top-level fields (the
document keeps its order).
"""

from __future__ import annotations

import copy
from typing import Any

CERTIFICATE_ID = "3f1c0a52-8d7e-4c2b-9a41-0b6f2d9e7c10"
REFUNDED_ID = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
NUMBER = "4000123412344821"


def certificate_line(certificate_id: str = CERTIFICATE_ID) -> dict[str, Any]:
    """A line of `giftCertificates`: 5000.00 RUB for a year, notified to Anna by email."""
    return {
        "certificateId": certificate_id,
        "amount": "5000.00",
        "validityDays": 365,
        "notificationChannel": "EMAIL",
        "recipient": {"name": "Anna", "email": "anna@example.com", "phone": None},
    }


def sales_order(
    *,
    certificate_id: str = CERTIFICATE_ID,
    refunded_id: str = REFUNDED_ID,
    number: str = NUMBER,
    **fields: Any,
) -> dict[str, Any]:
    """CONTRACTS.md, "Inbound topic All_SalesOrder": a certificate line, a redemption, a refund."""
    return {
        "messageId": "b7f6c1d2-5e0a-4c8b-9f3e-2a1d0c9b8e7f",
        "eventType": "ORDER_CREATED",
        "occurredAt": "2026-11-26T10:00:00Z",
        "orderId": "WEB-100045",
        "channel": "WEB",
        "storeId": "MSK-001",
        "customer": {"clientId": "C-1", "email": "buyer@example.com", "phone": "+79990000000"},
        "totalAmount": "5000.00",
        "currency": "RUB",
        "giftCertificates": [certificate_line(certificate_id)],
        "redemptions": [{"certificateNumber": number, "amount": "1500.00"}],
        "refunds": [{"certificateId": refunded_id, "reason": "customer request"}],
        **fields,
    }


def payment(**fields: Any) -> dict[str, Any]:
    """CONTRACTS.md, "Inbound topic All_Payments": the whole order paid by card."""
    return {
        "messageId": "0c1e7a90-3b2f-4d6e-8a15-9c0b1d2e3f40",
        "eventType": "PAYMENT_AUTHORIZED",
        "occurredAt": "2026-11-26T10:00:02Z",
        "paymentId": "PAY-77",
        "orderId": "WEB-100045",
        "method": "CARD",
        "amount": "5000.00",
        "currency": "RUB",
        "certificateNumber": None,
        "refundOf": None,
        **fields,
    }


def client_notification(
    *, certificate_id: str = CERTIFICATE_ID, notification_id: str = "n-1", **fields: Any
) -> dict[str, Any]:
    """CONTRACTS.md, "Inbound topic All_Clients": a certificate's email was sent."""
    return {
        "messageId": "4d2c9e1a-7b3f-4a50-9e6d-1f2a3b4c5d6e",
        "eventType": "CLIENT_UPDATED",
        "occurredAt": "2026-11-26T10:05:00Z",
        "clientId": "C-1",
        "giftCertificateNotification": {
            "certificateId": certificate_id,
            "notificationId": notification_id,
            "result": "SENT",
            "channel": "EMAIL",
            "error": None,
        },
        **fields,
    }


def changed(instance: dict[str, Any], *path: str, value: object) -> dict[str, Any]:
    """A deep copy of `instance` with the value at `path` replaced (a number in `path` is a list
    index)."""
    result = copy.deepcopy(instance)
    parent, last = _parent(result, path)
    parent[last] = value
    return result


def without(instance: dict[str, Any], *path: str) -> dict[str, Any]:
    """A deep copy of `instance` with the key at `path` removed (a number in `path` is a list
    index)."""
    result = copy.deepcopy(instance)
    parent, last = _parent(result, path)
    del parent[last]
    return result


def _parent(document: dict[str, Any], path: tuple[str, ...]) -> tuple[Any, Any]:
    """The container holding the last step of `path`, and that step as its key or index."""
    node: Any = document
    for step in path[:-1]:
        node = node[int(step)] if isinstance(node, list) else node[step]
    return node, int(path[-1]) if isinstance(node, list) else path[-1]
