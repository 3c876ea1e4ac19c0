"""Dead letters: inbound messages GCP could not understand or act on, kept with their bytes.

A dead letter is recorded in the event store, in the same transaction as the consumed position,
and the relay publishes it to GiftCertificates.DLQ from the notification log (the store is the
outbox). So a crash between "decided it is bad" and "told the DLQ" loses nothing.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any, Final
from uuid import NAMESPACE_URL, UUID, uuid5

import attrs
from eventsourcing.domain import Aggregate, event

from gcp_app.message_bytes import KEY_LIMIT, kept_bytes
from gcp_domain.cause import Cause
from gcp_domain.stream import rfc3339
from gcp_domain.text import cut, cut_identifier

DEAD_LETTER_NAMESPACE: Final = uuid5(NAMESPACE_URL, "urn:gcp:dead-letter")
SCHEMA_VERSION: Final = 1
# Contract 1.1: "A message too large to dead-letter whole is dead-lettered with its first
# 64 KiB and its size", so that no message, however large, stops publishing. The key becomes
# the DLQ record's key too.
MAX_SOURCE_VALUE: Final = 64 * 1024
MAX_SOURCE_KEY: Final = KEY_LIMIT


def dead_letter_id(topic: str, partition: int, offset: int) -> UUID:
    return uuid5(DEAD_LETTER_NAMESPACE, f"{topic}/{partition}/{offset}")


class DeadLetter(Aggregate):
    TOPIC = "gcp:DeadLetter"

    class Created(Aggregate.Created):
        TOPIC = "gcp:DeadLetter.Created"
        source_topic: str
        source_partition: int
        source_offset: int
        source_key: str | None
        source_value: str | None
        message_id: str | None
        reason_code: str
        reason: str
        cause: Cause
        # Since class version 2: the original value's size in bytes and its SHA-256 (hex), so
        # a value kept only in part can still be told apart and matched with its original.
        source_size: int | None
        source_sha256: str | None

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["source_size"] = None
            state["source_sha256"] = None

    @staticmethod
    def create_id(source_topic: str, source_partition: int, source_offset: int) -> UUID:
        return dead_letter_id(source_topic, source_partition, source_offset)

    @classmethod
    def record(
        cls,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        message_id: str | None,
        reason_code: str,
        reason: str,
        cause: Cause,
    ) -> DeadLetter:
        # A typed name: the library's constructor returns Any to some mypy versions.
        letter: DeadLetter = cls(
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            source_key=kept_bytes(key, MAX_SOURCE_KEY),
            source_value=kept_bytes(value, MAX_SOURCE_VALUE),
            message_id=None if message_id is None else cut_identifier(message_id),
            reason_code=reason_code,
            reason=cut(reason),
            cause=cause,
            source_size=None if value is None else len(value),
            source_sha256=None if value is None else hashlib.sha256(value).hexdigest(),
        )
        return letter

    @event(Created)
    def __init__(
        self,
        source_topic: str,
        source_partition: int,
        source_offset: int,
        source_key: str | None,
        source_value: str | None,
        message_id: str | None,
        reason_code: str,
        reason: str,
        cause: Cause,
        source_size: int | None,
        source_sha256: str | None,
    ) -> None:
        self.source_topic = source_topic
        self.source_partition = source_partition
        self.source_offset = source_offset
        self.source_key = source_key
        self.source_value = source_value
        self.message_id = message_id
        self.reason_code = reason_code
        self.reason = reason
        self.source_size = source_size
        self.source_sha256 = source_sha256


@attrs.frozen
class DeadLetterMessage:
    """One message for GiftCertificates.DLQ: keyed like the original, with its bytes."""

    key: bytes | None
    value: dict[str, Any]
    headers: dict[str, str]


def dead_letter_message(letter: DeadLetter, detected_at: datetime) -> DeadLetterMessage:
    value = {
        "schemaVersion": SCHEMA_VERSION,
        "deadLetterId": str(letter.id),
        "reason": letter.reason,
        "reasonCode": letter.reason_code,
        "sourceTopic": letter.source_topic,
        "sourcePartition": letter.source_partition,
        "sourceOffset": letter.source_offset,
        "sourceKey": letter.source_key,
        "sourceValue": letter.source_value,
        "messageId": letter.message_id,
        "detectedAt": rfc3339(detected_at),
        "sourceSize": letter.source_size,
        "sourceSha256": letter.source_sha256,
    }
    key = base64.b64decode(letter.source_key) if letter.source_key is not None else None
    headers = {
        "reasonCode": letter.reason_code,
        "sourceTopic": letter.source_topic,
        "deadLetterId": str(letter.id),
    }
    return DeadLetterMessage(key=key, value=value, headers=headers)
