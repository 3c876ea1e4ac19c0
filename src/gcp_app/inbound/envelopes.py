"""One consumed message as the inbound matching sees it, and what became of it.

No Kafka here: the Kafka adapter reads records into `Envelope`s (a record that cannot be decoded
travels with its `Problem`) and hands them over a batch at a time.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

import attrs

from gcp_app.inbound.messages import InboundMessage

INBOX_PREFIX: Final = "inbox:"


class Outcome(StrEnum):
    """What became of one consumed message."""

    APPLIED = "applied"
    IGNORED = "ignored"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead-lettered"
    ALREADY_CONSUMED = "already-consumed"


@attrs.frozen
class Problem:
    """Why a message cannot be used: a stable code and a sentence (never a CVC)."""

    code: str
    reason: str


@attrs.frozen
class Envelope:
    """One consumed message: where it was read, its bytes, and what it decoded to
    (`message`), or why it could not be decoded (`problem`); neither: not about certificates."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    message: InboundMessage | None = None
    problem: Problem | None = None
    message_id: str | None = None  # read even from a message that could not be decoded

    @property
    def source(self) -> str:
        return inbox_source(self.topic, self.partition)


@attrs.frozen
class Handled:
    envelope: Envelope
    outcome: Outcome
    problem: Problem | None = None


def inbox_source(topic: str, partition: int) -> str:
    return f"{INBOX_PREFIX}{topic}/{partition}"


class Refusal(Exception):
    """A message the service cannot act on: it becomes a dead letter."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.problem = Problem(code, reason)
