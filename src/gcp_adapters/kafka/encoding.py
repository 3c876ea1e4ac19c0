"""The application's inbound messages as Kafka records: the exact inverse of `decoding`.

For what plays the other teams against the service (the end-to-end tests, the benchmark's
workload, `gcp demo`), with the messages of `gcp_app.inbound.builders`. `encode` writes a message
in the contract's JSON (docs/contracts): camelCase keys, money as strings exactly as the Decimal
holds it, UUIDs as text, times in RFC 3339 UTC with `Z`, arrays for tuples, and every field,
`null` where the message leaves it out (as CONTRACTS.md's examples do). So
`decode(kind_of(m), key_of(m), encode(m)) == m` for every message `decode` returns.

`encode` writes what it is given and checks nothing the decoder checks: a message the service
refuses (an empty id, an unknown result, money with too many digits) encodes to bytes it
refuses, which is how the tests send them. What JSON cannot carry (money that is not a finite
number, a time without an offset) raises `ValueError`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final
from uuid import UUID

import attrs
from cattrs import Converter
from cattrs.gen import make_dict_unstructure_fn, override

from gcp_adapters.kafka.decoding import InboundTopics, TopicKind, camel_key
from gcp_app.inbound.messages import (
    WIRE_CLASSES,
    ClientMessage,
    InboundMessage,
    PaymentMessage,
    SalesOrderMessage,
)

_DEFAULT_TOPICS: Final = InboundTopics()


def _money(amount: Decimal) -> str:
    # str() of a finite Decimal is in the JSON number grammar and keeps its exponent, so the
    # decoder reads back the same Decimal ("5000.00" stays two places, "1E+3" stays 1E+3).
    if not amount.is_finite():
        raise ValueError("money must be a finite decimal number")
    return str(amount)


def _timestamp(moment: datetime) -> str:
    # UTC with Z, per the conventions; the instant is what the decoder gives back.
    if moment.utcoffset() is None:
        raise ValueError("a time on the wire names its offset: use an aware datetime")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def make_converter() -> Converter:
    """A cattrs converter from gcp_app.inbound.messages classes to JSON-ready values."""
    converter = Converter()
    converter.register_unstructure_hook(Decimal, _money)
    converter.register_unstructure_hook(UUID, str)
    converter.register_unstructure_hook(datetime, _timestamp)
    for cls in WIRE_CLASSES:
        renamed = {f.name: override(rename=camel_key(f.name)) for f in attrs.fields(cls)}
        unstructure = make_dict_unstructure_fn(cls, converter, **renamed)  # type: ignore[arg-type]
        converter.register_unstructure_hook(cls, unstructure)
    return converter


_CONVERTER: Final = make_converter()


def encode(message: InboundMessage) -> bytes:
    """The Kafka value of `message`: the contract's JSON, UTF-8."""
    document = _CONVERTER.unstructure(message)
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def kind_of(message: InboundMessage) -> TopicKind:
    """Which inbound contract `message` belongs to."""
    if isinstance(message, SalesOrderMessage):
        return TopicKind.SALES_ORDER
    if isinstance(message, PaymentMessage):
        return TopicKind.PAYMENT
    return TopicKind.CLIENT


def topic_of(message: InboundMessage, topics: InboundTopics = _DEFAULT_TOPICS) -> str:
    """The topic `message` is produced to, of the configured `topics`."""
    return {
        TopicKind.SALES_ORDER: topics.sales_order,
        TopicKind.PAYMENT: topics.payments,
        TopicKind.CLIENT: topics.clients,
    }[kind_of(message)]


def key_of(message: InboundMessage) -> bytes:
    """The contract's key: orderId on All_SalesOrder and All_Payments, clientId on All_Clients."""
    if isinstance(message, ClientMessage):
        return message.client_id.encode("utf-8")
    return message.order_id.encode("utf-8")
