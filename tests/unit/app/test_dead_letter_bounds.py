"""A dead letter keeps at most the first 64 KiB of its message, with the size and a digest of
the whole (contract 1.1: "A message too large to dead-letter whole is dead-lettered with its
first 64 KiB and its size"), so that no message, however large, stops publishing. A key is
kept to its first KiB, a parked message's too."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

from tests.schemas import contract_validator

from gcp_app.dead_letters import MAX_SOURCE_KEY, MAX_SOURCE_VALUE, DeadLetter, dead_letter_message
from gcp_app.message_bytes import KEY_LIMIT, kept_bytes
from gcp_app.outbox import compact_json
from gcp_app.parked import ParkedMessage
from gcp_domain import Cause

DLQ_SCHEMA = contract_validator("dead-letter.schema.json")
CAUSE = Cause.system("kafka:All_Payments", "All_Payments/0/7")
AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def letter(value: bytes | None, *, key: bytes | None = b"WEB-1", message_id: str | None = None):
    return DeadLetter.record(
        topic="All_Payments",
        partition=0,
        offset=7,
        key=key,
        value=value,
        message_id=message_id,
        reason_code="not-json",
        reason="the value is not a JSON object " + "!" * 5_000,
        cause=CAUSE,
    )


def test_an_800_kb_value_is_kept_in_its_first_64_kib_with_its_size_and_digest() -> None:
    value = bytes(range(256)) * 3125  # 800,000 bytes
    message = dead_letter_message(letter(value), AT)

    kept = base64.b64decode(message.value["sourceValue"])
    assert kept == value[:MAX_SOURCE_VALUE]
    assert message.value["sourceSize"] == 800_000
    assert message.value["sourceSha256"] == hashlib.sha256(value).hexdigest()
    assert len(message.value["reason"]) == 1_000
    assert len(compact_json(message.value)) < 100_000  # far below any broker's limit
    DLQ_SCHEMA.validate(json.loads(compact_json(message.value)))


def test_a_small_value_is_kept_whole() -> None:
    message = dead_letter_message(letter(b"{not json"), AT)
    assert base64.b64decode(message.value["sourceValue"]) == b"{not json"
    assert message.value["sourceSize"] == 9
    DLQ_SCHEMA.validate(message.value)


def test_a_tombstone_has_no_size_and_no_digest() -> None:
    message = dead_letter_message(letter(None), AT)
    assert (message.value["sourceValue"], message.value["sourceSize"]) == (None, None)
    assert message.value["sourceSha256"] is None
    DLQ_SCHEMA.validate(message.value)


def test_a_long_key_and_messageid_are_cut() -> None:
    message = dead_letter_message(letter(b"{}", key=b"k" * 800_000, message_id="m" * 10_000), AT)
    assert message.key == b"k" * MAX_SOURCE_KEY
    assert base64.b64decode(message.value["sourceKey"]) == b"k" * MAX_SOURCE_KEY
    assert message.value["messageId"] == "m" * 200


def test_a_dead_letter_recorded_before_the_bounds_reads_back_with_no_size() -> None:
    """Class version 1 had no size or digest: upcast, they are null."""
    created = letter(b"{}").collect_events()[0]
    state = dict(created.__dict__)
    del state["source_size"], state["source_sha256"]
    DeadLetter.Created.upcast_v1_v2(state)
    assert (state["source_size"], state["source_sha256"]) == (None, None)


def test_a_parked_message_keeps_the_first_kib_of_its_key() -> None:
    parked = ParkedMessage.park(
        destination="GiftCertificates.Stream",
        position=42,
        key=b"k" * 800_000,
        size=900_000,
        error="Message size too large",
        cause=CAUSE,
    )
    assert parked.key is not None
    assert base64.b64decode(parked.key) == b"k" * KEY_LIMIT


def test_kept_bytes_are_the_first_bytes_in_base64() -> None:
    assert kept_bytes(None) is None
    assert kept_bytes(b"") == ""
    assert base64.b64decode(kept_bytes(b"WEB-1") or "") == b"WEB-1"
    assert base64.b64decode(kept_bytes(b"k" * 5_000) or "") == b"k" * KEY_LIMIT
    assert base64.b64decode(kept_bytes(b"\xff\x00abc", 2) or "") == b"\xff\x00"
