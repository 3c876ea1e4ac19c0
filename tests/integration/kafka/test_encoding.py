"""The inbound encoder (gcp_adapters.kafka.encoding) with the builders (gcp_app.inbound.builders).

Pure unit tests, no broker: a built message, encoded, decodes to the same message (money to the
same digits), validates against the contract's JSON Schema, and goes to the contract's topic
under the contract's key; the builders' defaults are CONTRACTS.md's examples.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.integration.kafka.inbound_schemas import VALIDATORS
from tests.unit.contracts import examples
from tests.unit.contracts.examples import CERTIFICATE_ID, NUMBER, REFUNDED_ID

from gcp_adapters.kafka.decoding import InboundTopics, TopicKind, decode
from gcp_adapters.kafka.encoding import encode, key_of, kind_of, topic_of
from gcp_app.inbound import Problem
from gcp_app.inbound import builders as build
from gcp_app.inbound.messages import Contact, Customer, InboundMessage
from gcp_domain.money import ISO_4217


def wire(message: InboundMessage) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(encode(message))
    return document


def schema_errors(message: InboundMessage) -> list[str]:
    return [error.message for error in VALIDATORS[kind_of(message)].iter_errors(wire(message))]


# ---------------------------------------------------------------------- strategies
# Messages the decoder accepts, built by the builders from drawn arguments.

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)  # keys are UTF-8
identifier = text.filter(bool)
maybe_text = st.none() | text
money = st.decimals(allow_nan=False, allow_infinity=False) | st.decimals(
    min_value=0, max_value=10**9, places=2
)
# hypothesis takes naive bounds and adds the drawn zone.
moment = st.datetimes(
    min_value=datetime(1900, 1, 1),  # noqa: DTZ001
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=3)), timezone(-timedelta(hours=9, minutes=30))]
    ),
)
occurred_at = st.none() | moment
currency = st.none() | st.sampled_from(sorted(ISO_4217))
certificate_id = st.uuids()
contact = st.none() | st.builds(Contact, name=maybe_text, email=maybe_text, phone=maybe_text)
customer = st.none() | st.builds(Customer, client_id=maybe_text, email=maybe_text, phone=maybe_text)

certificate_line = st.builds(
    build.certificate_line,
    certificate_id,
    money,
    validity_days=st.none() | st.integers(1, 36_500),
    notification_channel=st.sampled_from([None, "EMAIL", "SMS", "NONE"]),
    recipient=contact,
)
redemption_line = st.builds(build.redemption_line, identifier, money)
refund_line = st.builds(build.refund_line, certificate_id, maybe_text)
order = st.builds(
    build.order,
    identifier,
    identifier,
    certificates=st.lists(certificate_line, max_size=3),
    redemptions=st.lists(redemption_line, max_size=2),
    refunds=st.lists(refund_line, max_size=2),
    channel=maybe_text,
    store_id=maybe_text,
    customer=customer,
    total=st.just(build.LINES_TOTAL) | st.none() | money,
    currency=currency,
    occurred_at=occurred_at,
    message_id=identifier,
)
payment = st.builds(
    build.payment,
    identifier,
    identifier,
    st.sampled_from(["PAYMENT_AUTHORIZED", "PAYMENT_CAPTURED", "REFUND_COMPLETED"]) | identifier,
    money,
    method=st.sampled_from([None, "CARD", "SBP"]) | identifier,
    certificate_number=st.none() | identifier,
    refund_of=maybe_text,
    currency=currency,
    occurred_at=occurred_at,
    message_id=identifier,
).filter(  # the schema's rule: a payment from a certificate names it
    lambda m: (
        bool(m.certificate_number)
        or (m.event_type != "REDEMPTION" and m.method != "GIFT_CERTIFICATE")
    )
)
redemption = st.builds(
    build.redemption_payment,
    identifier,
    identifier,
    identifier,
    money,
    currency=currency,
    occurred_at=occurred_at,
)
notification = st.builds(
    build.client_notification,
    certificate_id,
    identifier,
    st.sampled_from(["SENT", "FAILED"]),
    error=maybe_text,
    channel=maybe_text,
    client_id=identifier,
    occurred_at=occurred_at,
    message_id=identifier,
)
client_update = st.builds(
    build.client_update, identifier, event_type=maybe_text, occurred_at=occurred_at
)
messages = order | payment | redemption | notification | client_update


# ---------------------------------------------------------------------- properties


@given(messages)
def test_a_built_message_encoded_decodes_to_itself(message: InboundMessage) -> None:
    decoded = decode(kind_of(message), key_of(message), encode(message))

    assert decoded == message
    assert not isinstance(decoded, Problem)
    # Equal Decimals may differ in digits ("1E+3" and "1000"); the wire keeps them as written.
    assert encode(decoded) == encode(message)


@given(messages)
def test_an_encoded_message_validates_against_its_schema(message: InboundMessage) -> None:
    assert schema_errors(message) == []


# ---------------------------------------------------------------------- the builders' defaults


def test_the_default_order_is_the_contracts_example() -> None:
    built = build.order(
        "WEB-100045",
        certificates=[build.certificate_line(CERTIFICATE_ID)],
        redemptions=[build.redemption_line(NUMBER, "1500.00")],
        refunds=[build.refund_line(REFUNDED_ID)],
        total="5000.00",
        occurred_at=datetime(2026, 11, 26, 10, tzinfo=UTC),
        message_id="b7f6c1d2-5e0a-4c8b-9f3e-2a1d0c9b8e7f",
    )

    assert wire(built) == examples.sales_order()


def test_the_default_payment_is_the_contracts_example_captured() -> None:
    built = build.payment(
        "WEB-100045",
        "PAY-77",
        occurred_at=datetime(2026, 11, 26, 10, 0, 2, tzinfo=UTC),
        message_id="0c1e7a90-3b2f-4d6e-8a15-9c0b1d2e3f40",
    )

    assert wire(built) == examples.payment(eventType="PAYMENT_CAPTURED")


def test_the_default_notification_result_is_the_contracts_example() -> None:
    built = build.client_notification(
        CERTIFICATE_ID,
        "n-1",
        occurred_at=datetime(2026, 11, 26, 10, 5, tzinfo=UTC),
        message_id="4d2c9e1a-7b3f-4a50-9e6d-1f2a3b4c5d6e",
    )

    assert wire(built) == examples.client_notification()


def test_each_message_has_a_fresh_id_and_the_time_it_was_built() -> None:
    before = datetime.now(UTC)
    first, second = build.payment("WEB-1", "PAY-1"), build.payment("WEB-1", "PAY-1")

    assert first.message_id != second.message_id
    assert first.occurred_at is not None
    assert before <= first.occurred_at <= datetime.now(UTC)


def test_the_total_is_the_sum_of_the_certificate_and_redemption_lines() -> None:
    built = build.order(
        "POS-9",
        certificates=[build.certificate_line(CERTIFICATE_ID, "3000.00")],
        redemptions=[build.redemption_line(NUMBER, "1500.50")],
    )

    assert wire(built)["totalAmount"] == "4500.50"
    assert wire(build.order("WEB-2"))["totalAmount"] == "0"
    assert wire(build.order("WEB-3", total=None))["totalAmount"] is None


def test_none_leaves_a_field_to_the_services_default() -> None:
    line = build.certificate_line(
        CERTIFICATE_ID, validity_days=None, notification_channel=None, recipient=None
    )
    built = build.order("WEB-4", certificates=[line], currency=None, occurred_at=None)

    document = wire(built)
    assert document["giftCertificates"][0] == {
        "certificateId": CERTIFICATE_ID,
        "amount": "5000.00",
        "validityDays": None,
        "notificationChannel": None,
        "recipient": None,
    }
    assert (document["currency"], document["occurredAt"]) == (None, None)
    assert schema_errors(built) == []


def test_a_redemption_payment_is_a_gift_certificate_payment_naming_the_number() -> None:
    built = build.redemption_payment("POS-9", "PAY-80", NUMBER, "1500.00")

    assert (built.event_type, built.method, built.certificate_number) == (
        "REDEMPTION",
        "GIFT_CERTIFICATE",
        NUMBER,
    )
    assert built.amount == Decimal("1500.00")
    assert schema_errors(built) == []


def test_a_client_update_without_a_notification_is_valid() -> None:
    built = build.client_update("C-7")

    assert wire(built)["giftCertificateNotification"] is None
    assert schema_errors(built) == []


# ---------------------------------------------------------------------- the wire


def test_money_is_written_as_the_decimal_holds_it() -> None:
    for text in ("5000.00", "1500", "0.01", "1E+3", "10.005", "-5.00"):
        built = build.payment("WEB-1", "PAY-1", amount=Decimal(text))
        assert wire(built)["amount"] == text


def test_times_are_written_in_utc_with_z() -> None:
    moscow = datetime(2026, 11, 26, 13, 0, 0, 250_000, tzinfo=timezone(timedelta(hours=3)))

    assert wire(build.payment("WEB-1", "PAY-1", occurred_at=moscow))["occurredAt"] == (
        "2026-11-26T10:00:00.250000Z"
    )


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity"])
def test_money_that_is_not_a_number_cannot_be_encoded(amount: str) -> None:
    with pytest.raises(ValueError, match="money"):
        encode(build.payment("WEB-1", "PAY-1", amount=Decimal(amount)))


def test_a_time_without_an_offset_cannot_be_encoded() -> None:
    naive = datetime(2026, 11, 26, 10)  # noqa: DTZ001 - the naive time under test
    with pytest.raises(ValueError, match="offset"):
        encode(build.payment("WEB-1", "PAY-1", occurred_at=naive))


def test_what_the_service_refuses_is_encoded_as_given() -> None:
    refused = build.client_notification(CERTIFICATE_ID, "", "DELIVERED", message_id="")

    assert wire(refused)["giftCertificateNotification"]["result"] == "DELIVERED"
    assert schema_errors(refused) != []
    decoded = decode(TopicKind.CLIENT, key_of(refused), encode(refused))
    assert isinstance(decoded, Problem)
    assert decoded.code == "invalid-message"


def test_topics_and_keys_are_the_contracts() -> None:
    order_ = build.order("WEB-1")
    payment_ = build.payment("WEB-1", "PAY-1")
    result = build.client_notification(CERTIFICATE_ID, "n-1", client_id="C-9")

    assert [topic_of(m) for m in (order_, payment_, result)] == [
        "All_SalesOrder",
        "All_Payments",
        "All_Clients",
    ]
    assert [key_of(m) for m in (order_, payment_, result)] == [b"WEB-1", b"WEB-1", b"C-9"]
    renamed = InboundTopics(sales_order="orders", payments="payments", clients="clients")
    assert [topic_of(m, renamed) for m in (order_, payment_, result)] == [
        "orders",
        "payments",
        "clients",
    ]
