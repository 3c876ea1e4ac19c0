"""The contract's JSON Schema of each inbound topic, by the decoder's topic kind: what the
decoder's and the encoder's tests check their messages against."""

from __future__ import annotations

from jsonschema import Draft202012Validator
from tests.schemas import contract_validator

from gcp_adapters.kafka.decoding import TopicKind

VALIDATORS: dict[TopicKind, Draft202012Validator] = {
    TopicKind.SALES_ORDER: contract_validator("sales-order.schema.json"),
    TopicKind.PAYMENT: contract_validator("payment.schema.json"),
    TopicKind.CLIENT: contract_validator("client.schema.json"),
}
