"""Which produce errors are refusals for good, and which message a refusal is about.

A refusal the producer makes itself (`produce()` raises: the message is larger than
`message.max.bytes`) concerns that message alone. A broker refuses a whole produce request,
which may hold several messages, and with `enable.gapless.guarantee` the refusal reaches the
relay as a fatal producer error naming no message. So `Refusals` remembers that a refusal came
and, when the batch settles, points at the first unacknowledged message: it is sent again alone
(the relay reads one notification at a time meanwhile) and, refused alone too, parked
(gcp_app.parked). Everything else is transient and retried as before.
"""

from __future__ import annotations

from typing import Final

from confluent_kafka import KafkaError, KafkaException

# The brokers refuse these for good, whatever the retry.
PERMANENT_ERRORS: Final = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_RECORD,
        KafkaError.POLICY_VIOLATION,
    }
)
# How a fatal error (enable.gapless.guarantee) names those refusals in its text.
_PERMANENT_TEXTS: Final = tuple(KafkaError(code).str() for code in PERMANENT_ERRORS)


def is_permanent(error: KafkaError | str) -> bool:
    if isinstance(error, KafkaError):
        return error.code() in PERMANENT_ERRORS
    return any(text in error for text in _PERMANENT_TEXTS)


def kafka_error(error: KafkaException) -> KafkaError | str:
    """The KafkaError a KafkaException carries, or its text."""
    inner = error.args[0] if error.args else None
    return inner if isinstance(inner, KafkaError) else str(error)


def error_text(error: KafkaException) -> str:
    inner = kafka_error(error)
    return inner if isinstance(inner, str) else inner.str()


class Refusals:
    """The relay's memory of a broker's refusal (see the module's docstring)."""

    def __init__(self) -> None:
        self._refused: str | None = None  # a refusal since the batch was produced
        self._alone: int | None = None  # the message being sent again alone

    def refused(self, error: str) -> None:
        """A broker refused a request of this batch for good."""
        self._refused = error

    def delivered(self, position: int) -> None:
        if self._alone == position:
            self._alone = None  # accepted alone: it was another message of the request

    def limit(self, batch_size: int) -> int:
        """How many notifications to read next: one at a time while a message is suspect."""
        return 1 if self._alone is not None else batch_size

    def to_park(self, first_unacknowledged: int | None) -> str | None:
        """When the batch settles: the refusal to park `first_unacknowledged` with, if it was
        refused alone; otherwise it is marked to go alone next time, and None."""
        refused, self._refused = self._refused, None
        if refused is None or first_unacknowledged is None:
            return None
        if self._alone == first_unacknowledged:
            self._alone = None
            return refused
        self._alone = first_unacknowledged
        return None
