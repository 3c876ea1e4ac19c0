"""Failed CVC requests, kept in the event store: one small aggregate per key and time bucket.

A key is a certificate id or a client (the token's subject) that failed CVC requests. Time is
cut into buckets one window long (bucket = floor(epoch seconds / window seconds)), and each
(key, window, bucket) has its own `CvcFailures` aggregate, its id derived from those, so every
process of one deployment finds the same aggregates without an index. The throttle reads the
buckets around the present (the previous one, the current one, and the next one for a process
whose clock runs behind) and counts the failures within the window: a sliding window, and no
aggregate ever holds more than one window's failures (plus the lock-out), so the history read
per request stays short however long a key is probed.

A key's failures are serialised through its newest bucket, the "tip": every failure is an
event appended to the tip at the version it was read at, so two processes counting at once
cannot both save (the store's (id, version) constraint), and the loser counts again on what
the winner saved. Moving to a new bucket appends `Superseded` to the old tip in the same save
as the new bucket's first event, so a writer that read the old tip just before cannot slip a
failure into it unseen. Hence exactly one failure starts each lock-out, across processes.

None of these events is a certificate change: their topics (gcp:CvcFailures.*) are outside
the prefixes that the outbox publishes and the pool index follows. No CVC, notificationId or
printed number is in them: only the key, the failures' times and causes (who asked, which
request), and the lock-outs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

import attrs
from eventsourcing.domain import Aggregate, event

from gcp_domain.cause import Cause

CVC_FAILURES_NAMESPACE: Final = uuid5(NAMESPACE_URL, "urn:gcp:cvc-failures")

KeyKind = Literal["certificate", "client"]


def bucket_of(at: datetime, window_seconds: int) -> int:
    return math.floor(at.timestamp() / window_seconds)


def cvc_failures_id(kind: KeyKind, key: str, window_seconds: int, bucket: int) -> UUID:
    """The window's length is part of the id: after a change of the setting the buckets are
    other aggregates (the counts start afresh) rather than misread ones."""
    return uuid5(CVC_FAILURES_NAMESPACE, f"cvc-failures/{kind}/{key}/{window_seconds}/{bucket}")


class CvcFailures(Aggregate):
    """The failed CVC requests on one key within one time bucket, and the lock-out they
    started, if any."""

    TOPIC = "gcp:CvcFailures"

    class Created(Aggregate.Created):
        TOPIC = "gcp:CvcFailures.Created"
        kind: str
        key: str
        window_seconds: int
        bucket: int
        cause: Cause

    class Failed(Aggregate.Event):
        TOPIC = "gcp:CvcFailures.Failed"
        at: datetime
        cause: Cause

    class LockedOut(Aggregate.Event):
        """The failure just recorded reached the limit: refused until `until`."""

        TOPIC = "gcp:CvcFailures.LockedOut"
        at: datetime
        until: datetime
        failures: int
        cause: Cause

    class Superseded(Aggregate.Event):
        """A later bucket of the key took over: no more failures are appended here."""

        TOPIC = "gcp:CvcFailures.Superseded"
        by_bucket: int
        cause: Cause

    @event(Created)
    def __init__(self, kind: str, key: str, window_seconds: int, bucket: int, cause: Cause) -> None:
        self.bucket = bucket
        self.failures: list[datetime] = []
        self.locked_until: datetime | None = None

    @classmethod
    def open(
        cls, kind: KeyKind, key: str, window_seconds: int, bucket: int, *, cause: Cause
    ) -> CvcFailures:
        return cls._create(
            cls.Created,
            id=cvc_failures_id(kind, key, window_seconds, bucket),
            kind=kind,
            key=key,
            window_seconds=window_seconds,
            bucket=bucket,
            cause=cause,
        )

    @event(Failed)
    def fail(self, at: datetime, cause: Cause) -> None:
        self.failures.append(at)

    @event(LockedOut)
    def lock_out(self, at: datetime, until: datetime, failures: int, cause: Cause) -> None:
        self.locked_until = until

    @event(Superseded)
    def supersede(self, by_bucket: int, cause: Cause) -> None:
        pass


@attrs.frozen
class KeyState:
    """What a key's buckets say at one moment."""

    failures: int
    locked_until: datetime | None


def key_state(buckets: Iterable[CvcFailures], now: datetime, window: timedelta) -> KeyState:
    """The failures within the window (later than `now - window`) and the lock-out that holds at
    `now`, if any. A lock-out lasts one window, so the failures that started an expired one are
    outside the window by then: counting starts afresh, as it should."""
    since = now - window
    failures = 0
    locked_until: datetime | None = None
    for bucket in buckets:
        failures += sum(1 for at in bucket.failures if at > since)
        until = bucket.locked_until
        if until is not None and until > now and (locked_until is None or until > locked_until):
            locked_until = until
    return KeyState(failures, locked_until)
