"""Audit: a certificate's history with who, when and why, and its state at any past point."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Final
from uuid import UUID

import attrs

from gcp_domain.certificate import GiftCertificate, event_name
from gcp_domain.stream import rfc3339

# Base fields every event has, and fields that must never leave the store.
_NOT_DETAILS: Final = frozenset(
    {"originator_id", "originator_version", "timestamp", "originator_topic", "cause", "sealed_cvc"}
)


@attrs.frozen
class HistoryEntry:
    version: int
    event: str
    at: datetime
    actor: str
    causation_id: str
    correlation_id: str
    details: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "event": self.event,
            "at": rfc3339(self.at),
            "actor": self.actor,
            "causationId": self.causation_id,
            "correlationId": self.correlation_id,
            "details": self.details,
        }


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal | UUID | Enum):
        return str(value.value if isinstance(value, Enum) else value)
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, dict):
        return {_camel(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def history_entry(event: Any) -> HistoryEntry:
    details = {
        _camel(name): _plain(value)
        for name, value in vars(event).items()
        if name not in _NOT_DETAILS
    }
    return HistoryEntry(
        version=event.originator_version,
        event=event_name(event),
        at=event.timestamp,
        actor=event.cause.actor,
        causation_id=event.cause.causation_id,
        correlation_id=event.cause.correlation_id,
        details=details,
    )


def replay(
    events: Iterable[Any], *, version: int | None = None, at: datetime | None = None
) -> GiftCertificate | None:
    """Folds stored events up to `version` and/or up to the instant `at` (inclusive)."""
    certificate: GiftCertificate | None = None
    for event in events:
        if version is not None and event.originator_version > version:
            break
        if at is not None and event.timestamp > at:
            break
        certificate = event.mutate(certificate)
    return certificate
