"""The inbound decoder: Kafka values (JSON bytes) into gcp_app.messages, or a Problem.

Pure unit tests, no broker. Every case is also checked against the contract's JSON Schema: a
value the schema accepts decodes to a message, one it refuses gives a Problem.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from tests.integration.kafka.inbound_schemas import VALIDATORS
from tests.unit.contracts import examples
from tests.unit.contracts.examples import NUMBER

from gcp_adapters.kafka.decoding import InboundTopics, TopicKind, decode
from gcp_app.inbound import Problem
from gcp_app.inbound.messages import (
    ClientMessage,
    Contact,
    Customer,
    GiftCertificateLine,
    NotificationResult,
    PaymentMessage,
    RedemptionLine,
    RefundLine,
    SalesOrderMessage,
)

CERTIFICATE_ID = "6f1c1b8e-7d3e-4c2b-9a4e-1d2c3b4a5f60"
SO, PAY, CL = TopicKind.SALES_ORDER, TopicKind.PAYMENT, TopicKind.CLIENT

ORDER = examples.sales_order(certificate_id=CERTIFICATE_ID, refunded_id=CERTIFICATE_ID)
PAYMENT = examples.payment()
CLIENT = examples.client_notification(certificate_id=CERTIFICATE_ID)
EXAMPLES = {SO: ORDER, PAY: PAYMENT, CL: CLIENT}
DELETE: Any = object()


def changed(kind: TopicKind, path: str, value: Any) -> dict[str, Any]:
    """The example of `kind` with the field at `path` ("a.b.0.c") set to `value`, or removed
    when `value` is DELETE."""
    steps = path.split(".")
    if value is DELETE:
        return examples.without(EXAMPLES[kind], *steps)
    return examples.changed(EXAMPLES[kind], *steps, value=value)


def named(path: str) -> str:
    """How a reason names the field at `path`: "giftCertificates.0.amount" is
    "giftCertificates[0].amount"."""
    return re.sub(r"\.(\d+)", r"[\1]", path)


def run(kind: TopicKind, document: Any) -> Any:
    """Decodes `document` (JSON text, bytes, or a value to dump) and checks that the contract's
    schema agrees on whether it is acceptable."""
    if isinstance(document, bytes | None):
        raw = document
    else:
        raw = (document if isinstance(document, str) else json.dumps(document)).encode()
    result = decode(kind, b"key", raw)
    schema_ok = _schema_accepts(kind, raw)
    if schema_ok is not None:
        assert schema_ok == (not isinstance(result, Problem)), (result, schema_ok)
    return result


def _schema_accepts(kind: TopicKind, raw: bytes | None) -> bool | None:
    if raw is None:
        return None
    try:
        instance = json.loads(raw.decode("utf-8"))  # JSON Schema sees 365.0 as an integer
    except ValueError:
        return False
    return VALIDATORS[kind].is_valid(instance)


def problem(kind: TopicKind, document: Any) -> Problem:
    result = run(kind, document)
    assert isinstance(result, Problem), result
    return result


# ---------------------------------------------------------------------- the contract's examples


def test_the_order_example_decodes_completely() -> None:
    message = run(SO, ORDER)

    assert message == SalesOrderMessage(
        message_id=ORDER["messageId"],
        event_type="ORDER_CREATED",
        order_id="WEB-100045",
        occurred_at=datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
        channel="WEB",
        store_id="MSK-001",
        customer=Customer(client_id="C-1", email="buyer@example.com", phone="+79990000000"),
        total_amount=Decimal("5000.00"),
        currency="RUB",
        gift_certificates=(
            GiftCertificateLine(
                certificate_id=UUID(CERTIFICATE_ID),
                amount=Decimal("5000.00"),
                validity_days=365,
                notification_channel="EMAIL",
                recipient=Contact(name="Anna", email="anna@example.com", phone=None),
            ),
        ),
        redemptions=(RedemptionLine(certificate_number=NUMBER, amount=Decimal("1500.00")),),
        refunds=(RefundLine(certificate_id=UUID(CERTIFICATE_ID), reason="customer request"),),
    )


def test_the_payment_example_decodes_completely() -> None:
    assert run(PAY, PAYMENT) == PaymentMessage(
        message_id=PAYMENT["messageId"],
        event_type="PAYMENT_AUTHORIZED",
        payment_id="PAY-77",
        order_id="WEB-100045",
        amount=Decimal("5000.00"),
        occurred_at=datetime(2026, 11, 26, 10, 0, 2, tzinfo=UTC),
        method="CARD",
        currency="RUB",
    )


def test_the_client_example_decodes_completely() -> None:
    assert run(CL, CLIENT) == ClientMessage(
        message_id=CLIENT["messageId"],
        client_id="C-1",
        event_type="CLIENT_UPDATED",
        occurred_at=datetime(2026, 11, 26, 10, 5, tzinfo=UTC),
        gift_certificate_notification=NotificationResult(
            certificate_id=UUID(CERTIFICATE_ID),
            notification_id="n-1",
            result="SENT",
            channel="EMAIL",
        ),
    )


def test_only_the_required_fields() -> None:
    order = run(SO, {"messageId": "m", "eventType": "ORDER_UPDATED", "orderId": "o"})
    assert order == SalesOrderMessage(message_id="m", event_type="ORDER_UPDATED", order_id="o")
    assert not order.is_about_certificates  # valid; the matcher ignores it
    payment = run(
        PAY,
        {
            "messageId": "m",
            "eventType": "PAYMENT_CAPTURED",
            "paymentId": "p",
            "orderId": "o",
            "amount": "1",
        },
    )
    assert payment == PaymentMessage(
        message_id="m", event_type="PAYMENT_CAPTURED", payment_id="p", order_id="o", amount=1
    )
    client = run(CL, {"messageId": "m", "clientId": "C-9"})
    assert client == ClientMessage(message_id="m", client_id="C-9")


# ---------------------------------------------------------------------- money, exactly


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5000.00", "5000.00"),
        ("5000", "5000"),
        ("0.1", "0.1"),
        ("0.30", "0.30"),
        ("1e2", "1E+2"),
        ("1.5E-1", "0.15"),
        ("12345678901234567890.12", "12345678901234567890.12"),
        ("99999999999999999.99", "99999999999999999.99"),
    ],
)
def test_a_json_number_is_read_exactly(text: str, expected: str) -> None:
    value = (
        '{"messageId":"m","eventType":"PAYMENT_CAPTURED","paymentId":"p","orderId":"o",'
        f'"amount":{text}}}'
    )
    message = run(PAY, value)

    assert isinstance(message.amount, Decimal)
    assert str(message.amount) == str(Decimal(expected))
    assert message.amount == Decimal(expected)


def test_an_integer_amount_becomes_a_decimal() -> None:
    message = run(PAY, changed(PAY, "amount", 5000))
    assert type(message.amount) is Decimal
    assert message.amount == Decimal(5000)


@pytest.mark.parametrize("text", ["5000.00", "1500", "0.01", "1E+3", "-5.00", "10.005"])
def test_a_money_string_in_the_json_number_grammar_is_read_as_written(text: str) -> None:
    # Negative amounts and excess digits are for the domain's Money to refuse (later).
    message = run(PAY, changed(PAY, "amount", text))
    assert message.amount == Decimal(text)
    assert str(message.amount) == text


@pytest.mark.parametrize(
    "text",
    ["1,5", "abc", "+5", " 5", "5 ", "\uff15\uff10", "1_000", "NaN", "Infinity", ".5", "5.", ""],
)
def test_a_bad_money_string_is_invalid_money(text: str) -> None:
    found = problem(PAY, changed(PAY, "amount", text))
    assert found.code == "invalid-money"
    assert found.reason == "amount must be a decimal number in the JSON number grammar"


def test_money_in_order_lines_is_checked_too() -> None:
    found = problem(SO, changed(SO, "redemptions.0.amount", "15,00"))
    assert found == Problem(
        "invalid-money", "redemptions[0].amount must be a decimal number in the JSON number grammar"
    )
    assert problem(SO, changed(SO, "totalAmount", "lots")).code == "invalid-money"


@pytest.mark.parametrize("value", [True, [], {}, {"value": "1"}])
def test_money_of_another_json_type_is_an_invalid_message(value: Any) -> None:
    found = problem(PAY, changed(PAY, "amount", value))
    assert found == Problem(
        "invalid-message", "amount must be a decimal number (a string or a JSON number)"
    )


def test_bad_money_with_another_problem_is_an_invalid_message() -> None:
    document = changed(PAY, "amount", "1,5")
    document["currency"] = "rub"
    found = problem(PAY, document)
    assert found.code == "invalid-message"
    assert "amount" in found.reason
    assert "currency" in found.reason


# ---------------------------------------------------------------------- defaults, null, unknowns


def test_null_is_the_same_as_absent() -> None:
    document = dict.fromkeys(ORDER)
    document.update(messageId="m", eventType="ORDER_CREATED", orderId="o")
    message = run(SO, document)

    assert message == SalesOrderMessage(message_id="m", event_type="ORDER_CREATED", order_id="o")
    assert message.gift_certificates == ()
    assert message.currency is None  # the matcher applies GCP_DEFAULT_CURRENCY


def test_null_inside_lines_and_objects_leaves_the_defaults() -> None:
    line = {"certificateId": CERTIFICATE_ID, "amount": "1", "validityDays": None,
            "notificationChannel": None, "recipient": None}  # fmt: skip
    document = changed(SO, "giftCertificates.0", line)
    document["customer"] = {"clientId": None, "email": None}
    message = run(SO, document)

    assert message.gift_certificates[0] == GiftCertificateLine(UUID(CERTIFICATE_ID), Decimal(1))
    assert message.customer == Customer()


def test_a_required_field_sent_as_null_is_missing() -> None:
    assert problem(SO, changed(SO, "messageId", None)) == Problem(
        "invalid-message", "messageId is required"
    )
    assert problem(PAY, changed(PAY, "amount", None)) == Problem(
        "invalid-message", "amount is required"
    )


def test_unknown_fields_are_ignored_everywhere() -> None:
    document = copy.deepcopy(ORDER)
    document["loyalty"] = {"points": 10}
    document["customer"]["segment"] = "gold"
    document["giftCertificates"][0]["design"] = "birthday"
    document["giftCertificates"][0]["recipient"]["address"] = None
    document["redemptions"][0]["terminal"] = 7
    document["message_id"] = "snake case is just another unknown key"

    assert run(SO, document) == run(SO, ORDER)


def test_lists_become_tuples() -> None:
    document = copy.deepcopy(ORDER)
    document["redemptions"].append({"certificateNumber": "4000123412340000", "amount": 1})
    message = run(SO, document)

    assert isinstance(message.redemptions, tuple)
    assert [r.certificate_number for r in message.redemptions] == [NUMBER, "4000123412340000"]


def test_open_vocabularies_are_accepted() -> None:
    assert run(SO, changed(SO, "eventType", "ORDER_SPLIT")).event_type == "ORDER_SPLIT"
    assert run(PAY, changed(PAY, "eventType", "CHARGEBACK")).event_type == "CHARGEBACK"
    assert run(PAY, changed(PAY, "method", "CRYPTO")).method == "CRYPTO"
    assert run(PAY, changed(PAY, "method", None)).method is None
    assert run(CL, changed(CL, "eventType", None)).event_type is None


def test_a_client_update_without_the_notification_block_decodes() -> None:
    assert (
        run(CL, changed(CL, "giftCertificateNotification", None)).gift_certificate_notification
        is None
    )
    assert run(CL, changed(CL, "giftCertificateNotification", DELETE)) == ClientMessage(
        message_id=CLIENT["messageId"],
        client_id="C-1",
        event_type="CLIENT_UPDATED",
        occurred_at=datetime(2026, 11, 26, 10, 5, tzinfo=UTC),
    )


@pytest.mark.parametrize("days", [1, 30, 36_500, "365.0"])
def test_validity_days(days: Any) -> None:
    value = json.dumps(changed(SO, "giftCertificates.0.validityDays", 0)).replace(
        '"validityDays": 0', f'"validityDays": {days}'
    )
    assert run(SO, value).gift_certificates[0].validity_days == int(float(days))


# ---------------------------------------------------------------------- timestamps and ids


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T10:00:00Z", datetime(2026, 11, 26, 10, tzinfo=UTC)),
        ("2026-11-26t10:00:00z", datetime(2026, 11, 26, 10, tzinfo=UTC)),
        ("2026-11-26T10:00:00.123456Z", datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-26T10:00:00.5+00:00", datetime(2026, 11, 26, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-26T13:00:00+03:00", datetime(2026, 11, 26, 10, tzinfo=UTC)),
        ("2026-11-26T05:30:00-04:30", datetime(2026, 11, 26, 10, tzinfo=UTC)),
    ],
)
def test_rfc3339_timestamps(text: str, expected: datetime) -> None:
    occurred_at = run(PAY, changed(PAY, "occurredAt", text)).occurred_at
    assert occurred_at == expected
    assert occurred_at.utcoffset() is not None


def test_an_offset_is_kept() -> None:
    occurred_at = run(PAY, changed(PAY, "occurredAt", "2026-11-26T13:00:00+03:00")).occurred_at
    assert occurred_at.tzinfo == timezone(timedelta(hours=3))


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-26T10:00:00",  # no zone
        "2026-11-26 10:00:00Z",
        "2026-11-26",
        "2026-02-30T10:00:00Z",
        "2026-11-26T25:00:00Z",
        "26.11.2026 10:00",
        "1764151200",
    ],
)
def test_bad_timestamps(text: str) -> None:
    assert problem(PAY, changed(PAY, "occurredAt", text)) == Problem(
        "invalid-message", "occurredAt must be an RFC 3339 timestamp with Z or an offset"
    )


def test_a_timestamp_of_another_type() -> None:
    assert problem(SO, changed(SO, "occurredAt", 1764151200)).code == "invalid-message"


def test_an_uppercase_uuid_is_a_uuid() -> None:
    message = run(SO, changed(SO, "giftCertificates.0.certificateId", CERTIFICATE_ID.upper()))
    assert message.gift_certificates[0].certificate_id == UUID(CERTIFICATE_ID)


@pytest.mark.parametrize(
    "text",
    [
        "not-a-uuid",
        "",
        CERTIFICATE_ID.replace("-", ""),
        "{" + CERTIFICATE_ID + "}",
        "urn:uuid:" + CERTIFICATE_ID,
        CERTIFICATE_ID[:-1] + "g",
    ],
)
def test_bad_certificate_ids(text: str) -> None:
    assert problem(SO, changed(SO, "giftCertificates.0.certificateId", text)) == Problem(
        "invalid-message", "giftCertificates[0].certificateId must be a UUID"
    )
    assert problem(SO, changed(SO, "refunds.0.certificateId", text)).reason == (
        "refunds[0].certificateId must be a UUID"
    )
    assert problem(CL, changed(CL, "giftCertificateNotification.certificateId", text)).reason == (
        "giftCertificateNotification.certificateId must be a UUID"
    )


# ---------------------------------------------------------------------- invalid messages


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        (SO, "messageId"),
        (SO, "eventType"),
        (SO, "orderId"),
        (PAY, "messageId"),
        (PAY, "eventType"),
        (PAY, "paymentId"),
        (PAY, "orderId"),
        (PAY, "amount"),
        (CL, "messageId"),
        (CL, "clientId"),
    ],
)
def test_a_missing_required_field(kind: TopicKind, field: str) -> None:
    assert problem(kind, changed(kind, field, DELETE)) == Problem(
        "invalid-message", f"{field} is required"
    )


@pytest.mark.parametrize(
    ("kind", "field"),
    [(SO, "messageId"), (SO, "orderId"), (PAY, "paymentId"), (PAY, "method"), (CL, "clientId")],
)
def test_an_empty_identifier(kind: TopicKind, field: str) -> None:
    assert problem(kind, changed(kind, field, "")) == Problem(
        "invalid-message", f"{field} must not be empty"
    )


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        (SO, "messageId"),
        (SO, "eventType"),
        (SO, "orderId"),
        (SO, "channel"),
        (SO, "customer.clientId"),
        (PAY, "messageId"),
        (PAY, "paymentId"),
        (PAY, "orderId"),
        (PAY, "method"),
        (PAY, "refundOf"),
        (CL, "messageId"),
        (CL, "clientId"),
        (CL, "giftCertificateNotification.notificationId"),
    ],
)
def test_identifiers_are_at_most_200_characters(kind: TopicKind, field: str) -> None:
    """Contract 1.1: "A messageId is at most 200 characters"; GCP records every id it is given,
    so it holds them all to that bound (a 10 KB messageId was copied into every audit)."""
    assert not isinstance(run(kind, changed(kind, field, "m" * 200)), Problem)
    assert problem(kind, changed(kind, field, "m" * 201)) == Problem(
        "invalid-message", f"{field} must be at most 200 characters"
    )


@pytest.mark.parametrize("value", [5, 1.5, True, ["m"], {"id": "m"}])
def test_a_mistyped_string(value: Any) -> None:
    assert problem(SO, changed(SO, "messageId", value)) == Problem(
        "invalid-message", "messageId must be a string"
    )
    assert problem(SO, changed(SO, "channel", value)).reason == "channel must be a string"


@pytest.mark.parametrize("currency", ["ZZZ", "XXX", "XTS", "XAU", "BOV"])
def test_a_code_that_is_no_iso_4217_currency(currency: str) -> None:
    """Issue 11, item 5: currency ZZZ or XXX issued a certificate."""
    expected = Problem("invalid-message", "currency must be an ISO 4217 currency")
    assert problem(PAY, changed(PAY, "currency", currency)) == expected
    assert problem(SO, changed(SO, "currency", currency)) == expected


@pytest.mark.parametrize("currency", ["rub", "RU", "RUBL", "R1B", 643, "", "РУБ"])
def test_a_bad_currency(currency: Any) -> None:
    expected = Problem(
        "invalid-message", "currency must be an ISO 4217 code of three uppercase letters"
    )
    assert problem(PAY, changed(PAY, "currency", currency)) == expected
    assert problem(SO, changed(SO, "currency", currency)) == expected


@pytest.mark.parametrize(
    ("path", "value", "expectation"),
    [
        ("customer", "C-1", "must be an object"),
        ("customer", ["C-1"], "must be an object"),
        ("customer.email", 5, "must be a string"),
        ("giftCertificates", {}, "must be an array"),
        ("giftCertificates", "abc", "must be an array"),
        ("giftCertificates.0", "x", "must be an object"),
        ("giftCertificates.0.amount", DELETE, "is required"),
        ("giftCertificates.0.certificateId", DELETE, "is required"),
        ("giftCertificates.0.validityDays", 0, "must be between 1 and 36500"),
        ("giftCertificates.0.validityDays", 36_501, "must be between 1 and 36500"),
        ("giftCertificates.0.validityDays", "365", "must be a whole number of days"),
        ("giftCertificates.0.validityDays", True, "must be a whole number of days"),
        ("giftCertificates.0.validityDays", 1.5, "must be a whole number of days"),
        ("giftCertificates.0.notificationChannel", "PIGEON", "must be EMAIL or SMS or NONE"),
        ("giftCertificates.0.notificationChannel", "email", "must be EMAIL or SMS or NONE"),
        ("giftCertificates.0.recipient", "Anna", "must be an object"),
        ("giftCertificates.0.recipient.name", 1, "must be a string"),
        ("redemptions.0.certificateNumber", "", "must not be empty"),
        ("redemptions.0.certificateNumber", 4000123412344821, "must be a string"),
        ("redemptions.0.certificateNumber", DELETE, "is required"),
        ("refunds.0.certificateId", DELETE, "is required"),
        ("refunds.0.reason", 7, "must be a string"),
        ("refunds.0", None, "must be an object"),
    ],
)  # fmt: skip
def test_bad_order_fields(path: str, value: Any, expectation: str) -> None:
    assert problem(SO, changed(SO, path, value)) == Problem(
        "invalid-message", f"{named(path)} {expectation}"
    )


def test_the_second_line_is_named_by_its_index() -> None:
    document = copy.deepcopy(ORDER)
    document["giftCertificates"].append({"certificateId": CERTIFICATE_ID})
    assert problem(SO, document).reason == "giftCertificates[1].amount is required"


@pytest.mark.parametrize("number", [None, DELETE, ""])
def test_a_certificate_payment_names_the_certificate(number: Any) -> None:
    redemption = changed(PAY, "eventType", "REDEMPTION")
    redemption["method"] = "GIFT_CERTIFICATE"
    if number is DELETE:
        del redemption["certificateNumber"]
    else:
        redemption["certificateNumber"] = number
    assert problem(PAY, redemption) == Problem(
        "invalid-message", "certificateNumber is required for a REDEMPTION"
    )
    by_certificate = changed(PAY, "method", "GIFT_CERTIFICATE")
    by_certificate["eventType"] = "REFUND_COMPLETED"
    by_certificate["certificateNumber"] = None if number is DELETE else number
    assert problem(PAY, by_certificate) == Problem(
        "invalid-message", "certificateNumber is required for method GIFT_CERTIFICATE"
    )


def test_a_redemption_with_its_number() -> None:
    document = changed(PAY, "eventType", "REDEMPTION")
    document.update(method="GIFT_CERTIFICATE", certificateNumber=NUMBER, refundOf=None)
    message = run(PAY, document)
    assert message.certificate_number == NUMBER


@pytest.mark.parametrize(
    ("path", "value", "expectation"),
    [
        ("giftCertificateNotification", [], "must be an object"),
        ("giftCertificateNotification.result", "OK", "must be SENT or FAILED"),
        ("giftCertificateNotification.result", "sent", "must be SENT or FAILED"),
        ("giftCertificateNotification.result", DELETE, "is required"),
        ("giftCertificateNotification.notificationId", "", "must not be empty"),
        ("giftCertificateNotification.notificationId", DELETE, "is required"),
        ("giftCertificateNotification.error", False, "must be a string"),
    ],
)  # fmt: skip
def test_bad_notification_results(path: str, value: Any, expectation: str) -> None:
    assert problem(CL, changed(CL, path, value)) == Problem(
        "invalid-message", f"{named(path)} {expectation}"
    )


def test_a_failed_notification() -> None:
    document = changed(CL, "giftCertificateNotification.result", "FAILED")
    document["giftCertificateNotification"]["error"] = "mailbox full"
    block = run(CL, document).gift_certificate_notification
    assert not block.sent
    assert block.error == "mailbox full"


def test_every_problem_is_named_up_to_a_limit() -> None:
    found = problem(SO, {"eventType": 1, "orderId": "", "currency": "x", "channel": 2,
                         "storeId": 3, "customer": 4, "giftCertificates": 5})  # fmt: skip
    assert found.code == "invalid-message"
    assert found.reason.startswith("messageId is required; eventType must be a string; ")
    assert found.reason.endswith("; and 3 more")
    assert found.reason.count(";") == 5


def test_reasons_never_echo_values() -> None:
    secret = "SECRET-7731"
    cases = [
        (PAY, changed(PAY, "amount", secret)),
        (PAY, changed(PAY, "currency", secret)),
        (PAY, changed(PAY, "occurredAt", secret)),
        (SO, changed(SO, "giftCertificates.0.certificateId", secret)),
        (SO, changed(SO, "giftCertificates.0.notificationChannel", secret)),
        (CL, changed(CL, "giftCertificateNotification.result", secret)),
        (CL, changed(CL, "giftCertificateNotification", secret)),
    ]
    for kind, document in cases:
        found = problem(kind, document)
        assert secret not in found.reason
        assert "7731" not in found.reason


# ---------------------------------------------------------------------- not JSON


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json", "the value is not JSON"),
        (b"", "the value is not JSON"),
        (b'{"messageId": "m",', "the value is not JSON"),
        (b'{"messageId": "m"} trailing', "the value is not JSON"),
        (b'{"amount": NaN}', "the value is not JSON"),
        (b'{"amount": Infinity}', "the value is not JSON"),
        (b"\xef\xbb\xbf{}", "the value is not JSON"),  # a UTF-8 byte order mark
        (b"\xff\xfe{\x00}\x00", "the value is not UTF-8 text"),
        (b'{"orderId": "\xc3"}', "the value is not UTF-8 text"),
        (b"[1, 2]", "the value is not a JSON object"),
        (b'"ORDER_CREATED"', "the value is not a JSON object"),
        (b"null", "the value is not a JSON object"),
        (b"42", "the value is not a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "the value is not JSON"),
        (None, "the message has no value (a tombstone)"),
    ],
)
def test_not_json(value: bytes | None, reason: str) -> None:
    for kind in TopicKind:
        assert decode(kind, b"key", value) == Problem("not-json", reason)


# ---------------------------------------------------------------------- topics


def test_topic_names_map_to_kinds() -> None:
    topics = InboundTopics()
    assert topics.names == ("All_SalesOrder", "All_Payments", "All_Clients")
    assert topics.kind_of("All_SalesOrder") is SO
    assert topics.kind_of("All_Payments") is PAY
    assert topics.kind_of("All_Clients") is CL
    assert topics.kind_of("GiftCertificates.DLQ") is None
    renamed = InboundTopics(sales_order="orders", payments="payments", clients="clients")
    assert renamed.kind_of("orders") is SO
    assert renamed.kind_of("All_SalesOrder") is None


@pytest.mark.parametrize(
    "names", [("a", "a", "b"), ("a", "b", "b"), ("", "b", "c")], ids=["dup1", "dup2", "empty"]
)
def test_topic_names_must_differ(names: tuple[str, str, str]) -> None:
    with pytest.raises(ValueError, match="topic"):
        InboundTopics(*names)
