"""docs/contracts: the JSON Schemas of the Kafka messages, and the AsyncAPI document over them.

The examples are CONTRACTS.md's, with the "..." placeholders filled in.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from tests.schemas import contract_validator
from tests.unit.contracts import examples
from tests.unit.contracts.examples import CERTIFICATE_ID, changed, without

CONTRACTS = Path(__file__).parents[3] / "docs" / "contracts"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
MESSAGE_SCHEMAS = (
    "sales-order.schema.json",
    "payment.schema.json",
    "client.schema.json",
    "dead-letter.schema.json",
)


def load_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((CONTRACTS / name).read_text(encoding="utf-8"))
    return schema


VALIDATORS = {name: contract_validator(name) for name in MESSAGE_SCHEMAS}


def errors_of(schema: str, instance: object) -> list[str]:
    return [error.message for error in VALIDATORS[schema].iter_errors(instance)]


ORDER = "sales-order.schema.json"
PAYMENT = "payment.schema.json"
CLIENT = "client.schema.json"
DEAD_LETTER = "dead-letter.schema.json"

ORDER_MESSAGE = examples.sales_order(number="4000123412345672")
PAYMENT_MESSAGE = examples.payment()
CLIENT_MESSAGE = examples.client_notification(notification_id="N-1")
# The examples as JSON text: money stays what the producer wrote.
ORDER_TEXT = json.dumps(ORDER_MESSAGE, indent=2)
PAYMENT_TEXT = json.dumps(PAYMENT_MESSAGE, indent=2)

REDEMPTION_PAYMENT: dict[str, Any] = {
    **PAYMENT_MESSAGE,
    "messageId": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "eventType": "REDEMPTION",
    "paymentId": "PAY-80",
    "orderId": "POS-9",
    "method": "GIFT_CERTIFICATE",
    "amount": "1500.00",
    "certificateNumber": "4000123412344821",
}

REVERSAL_PAYMENT: dict[str, Any] = {
    **REDEMPTION_PAYMENT,
    "messageId": "2f3e4d5c-6b7a-4988-a7b6-c5d4e3f2a1b0",
    "eventType": "REFUND_COMPLETED",
    "paymentId": "PAY-81",
    "refundOf": "PAY-80",
}

ORIGINAL_KEY = b"WEB-100045"
ORIGINAL_VALUE = b'{"messageId":"m-9","orderId":"WEB-100045","amount":"10.005"}'

DEAD_LETTER_MESSAGE: dict[str, Any] = {
    "schemaVersion": 1,
    "deadLetterId": "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d",
    "reason": "amount 10.005 has more fractional digits than RUB allows (2)",
    "reasonCode": "invalid-money",
    "sourceTopic": "All_Payments",
    "sourcePartition": 0,
    "sourceOffset": 42,
    "sourceKey": base64.b64encode(ORIGINAL_KEY).decode("ascii"),
    "sourceValue": base64.b64encode(ORIGINAL_VALUE).decode("ascii"),
    "messageId": "m-9",
    "detectedAt": "2026-11-26T10:00:03.125Z",
}

NOT_JSON_DEAD_LETTER: dict[str, Any] = {
    **DEAD_LETTER_MESSAGE,
    "reason": "the value is not JSON",
    "reasonCode": "not-json",
    "sourceTopic": "All_SalesOrder",
    "sourceKey": None,
    "sourceValue": base64.b64encode(b"\xff\xfenot json").decode("ascii"),
    "messageId": None,
}

EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    (ORDER, ORDER_MESSAGE),
    (PAYMENT, PAYMENT_MESSAGE),
    (PAYMENT, REDEMPTION_PAYMENT),
    (PAYMENT, REVERSAL_PAYMENT),
    (CLIENT, CLIENT_MESSAGE),
    (DEAD_LETTER, DEAD_LETTER_MESSAGE),
    (DEAD_LETTER, NOT_JSON_DEAD_LETTER),
]
EXAMPLE_IDS = [
    "order",
    "payment",
    "redemption",
    "reversal",
    "client",
    "dead-letter",
    "dead-letter-not-json",
]


def described_properties(node: object, where: str = "#") -> Iterator[tuple[str, Any]]:
    """Every property definition anywhere in a schema, with a readable location."""
    if isinstance(node, dict):
        for name, definition in (node.get("properties") or {}).items():
            yield f"{where}/properties/{name}", definition
        for key, child in node.items():
            if key != "properties":
                yield from described_properties(child, f"{where}/{key}")
        for name, child in (node.get("properties") or {}).items():
            yield from described_properties(child, f"{where}/properties/{name}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from described_properties(child, f"{where}/{index}")


# --- the schemas themselves ----------------------------------------------------------------


@pytest.mark.parametrize("name", MESSAGE_SCHEMAS)
def test_each_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == DRAFT_2020_12
    assert schema["$id"].endswith("/" + name)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is True


@pytest.mark.parametrize("name", MESSAGE_SCHEMAS)
def test_every_top_level_and_nested_property_is_described(name: str) -> None:
    schema = load_schema(name)
    assert schema.get("description")
    locations = list(described_properties(schema))
    assert locations
    for location, definition in locations:
        if set(definition) <= {"type", "minLength", "const", "required"} and location.count(
            "/allOf/"
        ):
            continue  # a constraint inside an if/then refines a property described above
        assert definition.get("description"), location


@pytest.mark.parametrize(
    ("name", "required"),
    [
        (ORDER, ["messageId", "eventType", "orderId"]),
        (PAYMENT, ["messageId", "eventType", "paymentId", "orderId", "amount"]),
        (CLIENT, ["messageId", "clientId"]),
    ],
)
def test_the_required_fields_are_the_contract_s(name: str, required: list[str]) -> None:
    assert load_schema(name)["required"] == required


def test_the_notification_block_requires_its_three_fields() -> None:
    block = load_schema(CLIENT)["$defs"]["giftCertificateNotification"]
    assert block["required"] == ["certificateId", "notificationId", "result"]
    assert block["properties"]["result"]["enum"] == ["SENT", "FAILED"]


def test_the_documented_defaults_are_in_the_schemas() -> None:
    order = load_schema(ORDER)
    line = order["$defs"]["giftCertificateLine"]["properties"]
    assert line["validityDays"]["default"] == 365
    assert "GCP_DEFAULT_VALIDITY_DAYS" in line["validityDays"]["description"]
    assert line["notificationChannel"]["default"] == "EMAIL"
    assert "customer" in line["recipient"]["description"]
    for lines in ("giftCertificates", "redemptions", "refunds"):
        assert order["properties"][lines]["default"] == []
    assert order["properties"]["currency"]["default"] == "RUB"
    assert load_schema(PAYMENT)["properties"]["currency"]["default"] == "RUB"


def test_the_event_type_vocabularies() -> None:
    order_types = load_schema(ORDER)["properties"]["eventType"]
    known = order_types["anyOf"][0]["enum"]
    assert known == [
        "ORDER_CREATED",
        "ORDER_UPDATED",
        "ORDER_CANCELLED",
        "ORDER_REFUND_REQUESTED",
        "ORDER_REFUNDED",
    ]
    assert all(name in order_types["description"] for name in known)
    assert load_schema(PAYMENT)["properties"]["eventType"]["examples"] == [
        "PAYMENT_AUTHORIZED",
        "PAYMENT_CAPTURED",
        "PAYMENT_FAILED",
        "PAYMENT_VOIDED",
        "REDEMPTION",
        "REFUND_PENDING",
        "REFUND_PENDING_DETAILS",
        "REFUND_COMPLETED",
        "REFUND_FAILED",
    ]


# --- what validates ------------------------------------------------------------------------


@pytest.mark.parametrize(("schema", "instance"), EXAMPLES, ids=EXAMPLE_IDS)
def test_the_contract_examples_validate(schema: str, instance: dict[str, Any]) -> None:
    assert errors_of(schema, instance) == []


def test_money_may_be_a_json_number() -> None:
    text = ORDER_TEXT.replace('"amount": "5000.00"', '"amount": 5000.00').replace(
        '"totalAmount": "5000.00"', '"totalAmount": 5000.00'
    )
    assert '"amount": 5000.00' in text
    # The service reads numbers exactly ...
    exact = json.loads(text, parse_float=Decimal)
    assert exact["giftCertificates"][0]["amount"] == Decimal("5000.00")
    assert str(exact["giftCertificates"][0]["amount"]) == "5000.00"
    # ... and either reading satisfies the schema.
    assert errors_of(ORDER, exact) == []
    assert errors_of(ORDER, json.loads(text)) == []
    payment = PAYMENT_TEXT.replace('"amount": "5000.00"', '"amount": 5000')
    assert errors_of(PAYMENT, json.loads(payment)) == []
    assert errors_of(PAYMENT, json.loads(payment, parse_float=Decimal)) == []


@pytest.mark.parametrize("amount", ["5000.00", "5000", "0.50", "5E+3", "1.5e3", "-1.00", "10.005"])
def test_money_may_be_a_string_in_the_json_number_grammar(amount: str) -> None:
    """Negative amounts and excess minor digits pass the schema: the service refuses them
    (invalid-money), so the dead letter says what is wrong with the money."""
    assert errors_of(PAYMENT, {**PAYMENT_MESSAGE, "amount": amount}) == []
    assert (
        errors_of(ORDER, changed(ORDER_MESSAGE, "redemptions", "0", "amount", value=amount)) == []
    )


def test_the_money_description_says_what_the_service_refuses() -> None:
    for name in (ORDER, PAYMENT):
        description = load_schema(name)["$defs"]["money"]["description"]
        assert "negative" in description.lower()
        assert "invalid-money" in description


def test_unknown_fields_are_ignored() -> None:
    order = copy.deepcopy(ORDER_MESSAGE)
    order["loyaltyPoints"] = 120
    order["customer"]["segment"] = "VIP"
    order["giftCertificates"][0]["design"] = "birthday"
    order["giftCertificates"][0]["recipient"]["locale"] = "ru-RU"
    order["redemptions"][0]["terminalId"] = "T-7"
    order["refunds"][0]["requestedBy"] = "support"
    assert errors_of(ORDER, order) == []
    assert errors_of(PAYMENT, {**PAYMENT_MESSAGE, "acquirer": "SBER", "rrn": "123"}) == []
    client = copy.deepcopy(CLIENT_MESSAGE)
    client["firstName"] = "Ivan"
    client["giftCertificateNotification"]["provider"] = "smtp"
    assert errors_of(CLIENT, client) == []
    assert errors_of(DEAD_LETTER, {**DEAD_LETTER_MESSAGE, "consumerGroup": "gcp"}) == []


@pytest.mark.parametrize("event_type", ["ORDER_PAID", "ORDER_SHIPPED", "order_created"])
def test_an_unknown_order_event_type_validates(event_type: str) -> None:
    """Unknown order types are treated like ORDER_UPDATED, never dead-lettered."""
    assert errors_of(ORDER, {**ORDER_MESSAGE, "eventType": event_type}) == []


def test_the_minimal_messages_validate() -> None:
    assert errors_of(ORDER, {"messageId": "m", "eventType": "ORDER_CREATED", "orderId": "O"}) == []
    minimal_payment = {
        "messageId": "m",
        "eventType": "PAYMENT_CAPTURED",
        "paymentId": "P",
        "orderId": "O",
        "amount": "1",
    }
    assert errors_of(PAYMENT, minimal_payment) == []
    assert errors_of(CLIENT, {"messageId": "m", "clientId": "C"}) == []


def test_optional_fields_may_be_null() -> None:
    order = {
        **ORDER_MESSAGE,
        "occurredAt": None,
        "channel": None,
        "storeId": None,
        "customer": None,
        "totalAmount": None,
        "currency": None,
        "redemptions": None,
        "refunds": None,
        "giftCertificates": [
            {
                "certificateId": CERTIFICATE_ID,
                "amount": "5000.00",
                "validityDays": None,
                "notificationChannel": None,
                "recipient": None,
            }
        ],
    }
    assert errors_of(ORDER, order) == []
    payment = {**PAYMENT_MESSAGE, "method": None, "currency": None, "occurredAt": None}
    assert errors_of(PAYMENT, payment) == []
    client = {**CLIENT_MESSAGE, "eventType": None, "giftCertificateNotification": None}
    assert errors_of(CLIENT, client) == []


def test_timestamps_with_an_offset_name_an_instant_and_are_accepted_inbound() -> None:
    assert errors_of(ORDER, {**ORDER_MESSAGE, "occurredAt": "2026-11-26T13:00:00+03:00"}) == []


# --- what does not validate ----------------------------------------------------------------

MISSING: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    (ORDER, ORDER_MESSAGE, ("messageId",)),
    (ORDER, ORDER_MESSAGE, ("eventType",)),
    (ORDER, ORDER_MESSAGE, ("orderId",)),
    (ORDER, ORDER_MESSAGE, ("giftCertificates", "0", "certificateId")),
    (ORDER, ORDER_MESSAGE, ("giftCertificates", "0", "amount")),
    (ORDER, ORDER_MESSAGE, ("redemptions", "0", "certificateNumber")),
    (ORDER, ORDER_MESSAGE, ("redemptions", "0", "amount")),
    (ORDER, ORDER_MESSAGE, ("refunds", "0", "certificateId")),
    (PAYMENT, PAYMENT_MESSAGE, ("messageId",)),
    (PAYMENT, PAYMENT_MESSAGE, ("eventType",)),
    (PAYMENT, PAYMENT_MESSAGE, ("paymentId",)),
    (PAYMENT, PAYMENT_MESSAGE, ("orderId",)),
    (PAYMENT, PAYMENT_MESSAGE, ("amount",)),
    (PAYMENT, REDEMPTION_PAYMENT, ("certificateNumber",)),
    (CLIENT, CLIENT_MESSAGE, ("messageId",)),
    (CLIENT, CLIENT_MESSAGE, ("clientId",)),
    (CLIENT, CLIENT_MESSAGE, ("giftCertificateNotification", "certificateId")),
    (CLIENT, CLIENT_MESSAGE, ("giftCertificateNotification", "notificationId")),
    (CLIENT, CLIENT_MESSAGE, ("giftCertificateNotification", "result")),
    *((DEAD_LETTER, DEAD_LETTER_MESSAGE, (field,)) for field in DEAD_LETTER_MESSAGE),
]


@pytest.mark.parametrize(
    ("schema", "instance", "path"),
    MISSING,
    ids=[f"{schema.split('.')[0]}:{'.'.join(path)}" for schema, _, path in MISSING],
)
def test_a_missing_required_field_fails(
    schema: str, instance: dict[str, Any], path: tuple[str, ...]
) -> None:
    assert errors_of(schema, without(instance, *path)) != []


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        (ORDER, {**ORDER_MESSAGE, "currency": "rub"}),
        (ORDER, {**ORDER_MESSAGE, "currency": "RUBL"}),
        (ORDER, {**ORDER_MESSAGE, "currency": 643}),
        (PAYMENT, {**PAYMENT_MESSAGE, "currency": "rub"}),
        (PAYMENT, {**PAYMENT_MESSAGE, "currency": "Rub"}),
    ],
    ids=["order-rub", "order-RUBL", "order-643", "payment-rub", "payment-Rub"],
)
def test_a_bad_currency_fails(schema: str, instance: dict[str, Any]) -> None:
    assert errors_of(schema, instance) != []


@pytest.mark.parametrize(
    "amount", ["5 000.00", "5000,00", "", "1e", ".5", "5.", "+5", "NaN", "Infinity", True, None]
)
def test_money_outside_the_json_number_grammar_fails(amount: object) -> None:
    assert errors_of(PAYMENT, {**PAYMENT_MESSAGE, "amount": amount}) != []
    assert (
        errors_of(ORDER, changed(ORDER_MESSAGE, "giftCertificates", "0", "amount", value=amount))
        != []
    )


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        (ORDER, {**ORDER_MESSAGE, "messageId": ""}),
        (ORDER, {**ORDER_MESSAGE, "orderId": 100045}),
        (ORDER, {**ORDER_MESSAGE, "eventType": None}),
        (ORDER, {**ORDER_MESSAGE, "giftCertificates": {"certificateId": CERTIFICATE_ID}}),
        (ORDER, changed(ORDER_MESSAGE, "giftCertificates", "0", "certificateId", value="X-1")),
        (ORDER, changed(ORDER_MESSAGE, "giftCertificates", "0", "validityDays", value=0)),
        (ORDER, changed(ORDER_MESSAGE, "giftCertificates", "0", "validityDays", value="365")),
        (
            ORDER,
            changed(ORDER_MESSAGE, "giftCertificates", "0", "notificationChannel", value="PUSH"),
        ),
        (ORDER, {**ORDER_MESSAGE, "occurredAt": "yesterday"}),
        (PAYMENT, {**PAYMENT_MESSAGE, "eventType": ""}),
        (PAYMENT, {**PAYMENT_MESSAGE, "method": "GIFT_CERTIFICATE"}),
        (PAYMENT, {**REDEMPTION_PAYMENT, "certificateNumber": None}),
        (CLIENT, changed(CLIENT_MESSAGE, "giftCertificateNotification", "result", value="OK")),
        (CLIENT, {**CLIENT_MESSAGE, "giftCertificateNotification": "SENT"}),
        (["not", "an", "object"], None),
    ],
    ids=[
        "order-empty-messageId",
        "order-numeric-orderId",
        "order-null-eventType",
        "order-lines-not-a-list",
        "order-certificateId-not-a-uuid",
        "order-validityDays-0",
        "order-validityDays-string",
        "order-notificationChannel-PUSH",
        "order-occurredAt-not-a-timestamp",
        "payment-empty-eventType",
        "payment-gift-certificate-without-number",
        "payment-redemption-without-number",
        "client-unknown-result",
        "client-block-not-an-object",
        "not-an-object",
    ],
)
def test_broken_inbound_messages_fail(schema: object, instance: object) -> None:
    if isinstance(schema, list):  # a JSON array is not a message on any topic
        for name in (ORDER, PAYMENT, CLIENT):
            assert errors_of(name, schema) != []
        return
    assert isinstance(schema, str)
    assert errors_of(schema, instance) != []


@pytest.mark.parametrize(
    "instance",
    [
        {**DEAD_LETTER_MESSAGE, "schemaVersion": 2},
        {**DEAD_LETTER_MESSAGE, "deadLetterId": "dl-1"},
        {**DEAD_LETTER_MESSAGE, "reason": ""},
        {**DEAD_LETTER_MESSAGE, "reasonCode": "Invalid Money"},
        {**DEAD_LETTER_MESSAGE, "sourcePartition": -1},
        {**DEAD_LETTER_MESSAGE, "sourceOffset": "42"},
        {**DEAD_LETTER_MESSAGE, "sourceValue": "not base64!"},
        {**DEAD_LETTER_MESSAGE, "sourceKey": "V0VCLTEwMDA0NQ"},
        {**DEAD_LETTER_MESSAGE, "detectedAt": "2026-11-26T13:00:03+03:00"},
        {**DEAD_LETTER_MESSAGE, "messageId": 42},
    ],
    ids=[
        "schemaVersion-2",
        "deadLetterId-not-a-uuid",
        "empty-reason",
        "reasonCode-not-a-code",
        "negative-partition",
        "offset-string",
        "value-not-base64",
        "key-unpadded",
        "detectedAt-not-utc",
        "messageId-number",
    ],
)
def test_broken_dead_letters_fail(instance: dict[str, Any]) -> None:
    assert errors_of(DEAD_LETTER, instance) != []


def test_a_dead_letter_carries_the_original_bytes_and_may_name_a_new_reason_code() -> None:
    assert base64.b64decode(DEAD_LETTER_MESSAGE["sourceValue"], validate=True) == ORIGINAL_VALUE
    assert base64.b64decode(DEAD_LETTER_MESSAGE["sourceKey"], validate=True) == ORIGINAL_KEY
    assert errors_of(DEAD_LETTER, {**DEAD_LETTER_MESSAGE, "reasonCode": "refund-unmatched"}) == []
    assert errors_of(DEAD_LETTER, {**DEAD_LETTER_MESSAGE, "sourceValue": ""}) == []


# --- the AsyncAPI document -----------------------------------------------------------------

INBOUND = {"All_SalesOrder": "orderId", "All_Payments": "orderId", "All_Clients": "clientId"}
OUTBOUND = ("GiftCertificates.Stream", "GiftCertificates.DLQ")


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    document: dict[str, Any] = yaml.safe_load(
        (CONTRACTS / "asyncapi.yaml").read_text(encoding="utf-8")
    )
    return document


def resolve(document: dict[str, Any], reference: str) -> Any:
    assert reference.startswith("#/"), reference
    node: Any = document
    for step in reference[2:].split("/"):
        node = node[step.replace("~1", "/").replace("~0", "~")]
    return node


def messages_of(document: dict[str, Any], channel: dict[str, Any]) -> list[dict[str, Any]]:
    return [resolve(document, m["$ref"]) for m in channel["messages"].values()]


def test_asyncapi_is_version_3_with_the_five_topics(asyncapi: dict[str, Any]) -> None:
    assert asyncapi["asyncapi"] == "3.0.0"
    assert asyncapi["defaultContentType"] == "application/json"
    addresses = sorted(channel["address"] for channel in asyncapi["channels"].values())
    assert addresses == sorted([*INBOUND, *OUTBOUND])


def test_asyncapi_inbound_topics_are_received_and_outbound_topics_sent(
    asyncapi: dict[str, Any],
) -> None:
    actions: dict[str, str] = {}
    for operation in asyncapi["operations"].values():
        channel = resolve(asyncapi, operation["channel"]["$ref"])
        actions[channel["address"]] = operation["action"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(operation["channel"]["$ref"] + "/messages/")
            resolve(asyncapi, message["$ref"])
    assert actions == {
        **dict.fromkeys(INBOUND, "receive"),
        **dict.fromkeys(OUTBOUND, "send"),
    }


def test_asyncapi_payloads_are_the_json_schema_files(asyncapi: dict[str, Any]) -> None:
    payloads: dict[str, str] = {}
    for channel in asyncapi["channels"].values():
        for message in messages_of(asyncapi, channel):
            payload = message["payload"]
            assert payload["schemaFormat"] == "application/schema+json;version=draft-2020-12"
            reference = payload["schema"]["$ref"]
            assert (CONTRACTS / reference).is_file(), reference
            payloads[channel["address"]] = reference
    assert payloads == {
        "All_SalesOrder": "./sales-order.schema.json",
        "All_Payments": "./payment.schema.json",
        "All_Clients": "./client.schema.json",
        "GiftCertificates.Stream": "./gift-certificate.schema.json",
        "GiftCertificates.DLQ": "./dead-letter.schema.json",
    }


def test_asyncapi_keys_and_headers(asyncapi: dict[str, Any]) -> None:
    by_address = {
        channel["address"]: messages_of(asyncapi, channel)[0]
        for channel in asyncapi["channels"].values()
    }
    for address, key in INBOUND.items():
        assert key in by_address[address]["bindings"]["kafka"]["key"]["description"]
    stream = by_address["GiftCertificates.Stream"]
    assert "certificateId" in stream["bindings"]["kafka"]["key"]["description"]
    assert "pool name" in stream["bindings"]["kafka"]["key"]["description"]
    assert stream["headers"]["required"] == ["eventId", "status", "schemaVersion"]
    dead_letter = by_address["GiftCertificates.DLQ"]
    assert dead_letter["headers"]["required"] == ["reasonCode", "sourceTopic", "deadLetterId"]


def test_asyncapi_describes_the_delivery_guarantees(asyncapi: dict[str, Any]) -> None:
    description = " ".join(asyncapi["info"]["description"].split())
    for phrase in (
        "one consumer group",
        "(topic, messageId)",
        "same database transaction",
        "at-least-once",
        "exactly-once",
        "`version` order",
        "eventId",
        "compacted",
        "original bytes",
        "configurable",
    ):
        assert phrase in description, phrase


def test_asyncapi_examples_validate_against_their_schemas(asyncapi: dict[str, Any]) -> None:
    checked = 0
    for channel in asyncapi["channels"].values():
        for message in messages_of(asyncapi, channel):
            name = message["payload"]["schema"]["$ref"].removeprefix("./")
            for example in message.get("examples", []):
                if name in VALIDATORS:
                    assert errors_of(name, example["payload"]) == [], example["name"]
                    checked += 1
    assert checked >= 4
