"""The benchmark's workload (bench/workload.py) is contract traffic: what it means to be valid
validates against docs/contracts and decodes; what it means to be bad is refused; the mix holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from jsonschema import Draft202012Validator

from bench import workload
from gcp_adapters.kafka.decoding import TopicKind, decode
from gcp_app.inbound import Problem
from gcp_app.notification_ids import NotificationIds
from gcp_app.stock import draw_number

CONTRACTS = Path(__file__).parents[3] / "docs" / "contracts"
SCHEMAS = {
    workload.SALES_ORDER: ("sales-order.schema.json", TopicKind.SALES_ORDER),
    workload.PAYMENTS: ("payment.schema.json", TopicKind.PAYMENT),
    workload.CLIENTS: ("client.schema.json", TopicKind.CLIENT),
}
MESSAGES = 3000


def validator(name: str) -> Draft202012Validator:
    schema: dict[str, Any] = json.loads((CONTRACTS / name).read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


@pytest.fixture(scope="module")
def records() -> list[workload.Record]:
    certificates = [
        workload.Reserved(uuid4(), draw_number().value)
        for _ in range(workload.certificates_needed(MESSAGES))
    ]
    return workload.generate(
        certificates, MESSAGES, lag=300, notification_ids=NotificationIds(b"bench-key")
    )


def test_the_size_asked_for(records: list[workload.Record]) -> None:
    assert len(records) == MESSAGES


def test_good_messages_follow_the_contracts_and_decode(records: list[workload.Record]) -> None:
    validators = {topic: validator(name) for topic, (name, _) in SCHEMAS.items()}
    for record in records:
        if record.kind.startswith("bad-"):
            continue
        errors = list(validators[record.topic].iter_errors(json.loads(record.value)))
        assert not errors, f"{record.kind}: {errors[0].message}"
        decoded = decode(SCHEMAS[record.topic][1], record.key, record.value)
        assert not isinstance(decoded, Problem), f"{record.kind}: {decoded}"


@pytest.mark.parametrize("kind", ["bad-not-json", "bad-missing-field", "bad-money"])
def test_bad_messages_are_refused_by_the_decoder(records: list[workload.Record], kind: str) -> None:
    bad = [r for r in records if r.kind == kind]
    assert bad
    for record in bad:
        assert isinstance(decode(SCHEMAS[record.topic][1], record.key, record.value), Problem)


def test_the_mix(records: list[workload.Record]) -> None:
    mix = workload.mix(records)
    share = {kind: count / len(records) for kind, count in mix.items()}
    bad = sum(v for k, v in share.items() if k.startswith("bad-"))
    assert 0.005 < bad < 0.02
    assert 0.02 < share["duplicate"] < 0.06
    for kind in ("issue-order", "issue-payment", "capture", "notification-result"):
        assert share[kind] > 0.05, kind
    assert share["partial-redemption"] > 0.1
    assert share["full-redemption"] > 0.05


def test_duplicates_are_earlier_records_delivered_again(records: list[workload.Record]) -> None:
    seen: set[tuple[str, bytes]] = set()
    for record in records:
        if record.kind == "duplicate":
            assert (record.topic, record.value) in seen
        seen.add((record.topic, record.value))


def test_a_certificate_is_issued_before_it_is_redeemed(records: list[workload.Record]) -> None:
    issued: set[str] = set()
    for record in records:
        value = json.loads(record.value) if record.kind != "bad-not-json" else {}
        if record.kind == "issue-order":
            issued.add(value["giftCertificates"][0]["certificateId"])
        if record.kind == "notification-result":
            assert value["giftCertificateNotification"]["certificateId"] in issued
