"""Throttling of the CVC endpoint: a failure window per caller, shared by every process of a
deployment through the event store.

A failed CVC request (no such certificate, a wrong or closed notificationId, a locked or
unissued certificate: everything the caller sees as "not found") counts against the caller (the
token's subject) that made it, never against the certificate it named (contract 1.1: "A CVC
request that fails counts against its caller, never against the certificate, so one caller
cannot keep the CVC from another"). After `max_failures` by one caller within `window`, that
caller is locked out for `window`: every request it makes is refused, whatever it names. Another
caller asking for the same certificate is not slowed.

The failure that starts a caller's lock-out is recorded, as `CvcLockedOut`, on the certificate
it named if that exists (the audit's "who was locked out asking for this certificate"). A
lock-out starts once per window: `failed()` says True for the failure that started it, and only
for that one, in whichever process it ran.

The counts live in the event store (`gcp_app.cvc_failures`), not in the process: every process
on the same database sees the same failures and lock-outs, and they survive a restart. A check
is one read of the keys' recent buckets (one query on PostgreSQL); a failure is that read and
one save, redone when another process counted on the same key meanwhile (a version conflict).
A failure that still cannot be saved after `COUNT_ATTEMPTS` rounds is answered as throttled:
refusing is safe, letting an uncounted guess through is not.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Final
from uuid import UUID

import attrs
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from gcp_app.cvc_failures import CvcFailures, KeyKind, bucket_of, cvc_failures_id, key_state
from gcp_app.recorders import aggregates_of_many
from gcp_app.settings import Settings
from gcp_domain.cause import Cause
from gcp_domain.errors import DomainError

logger = logging.getLogger("gcp.app")

# Rounds of "read, count, save" before a failure is given up on (and answered as throttled).
# Each round that conflicts lost to another request's save, so a burst of N concurrent failures
# on one key needs at most N rounds: room for far more than a client gets within its limit.
COUNT_ATTEMPTS: Final = 64
# Seconds: the upper bound of the random wait after a conflict, times the round (up to 8).
_BACKOFF: Final = 0.002


class CvcThrottled(DomainError):
    """Too many failed CVC requests for this certificate or by this client: try again later.

    The message is fixed: it never says which limit was hit, so it tells nothing about whether
    the certificate exists."""

    code = "cvc-throttled"

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many failed CVC requests; try again later.")
        self.retry_after = retry_after


@attrs.frozen
class CvcPolicy:
    max_failures: int = 5  # per caller, within the window
    window: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings: Settings) -> CvcPolicy:
        return cls(max_failures=settings.cvc_max_failures, window=settings.cvc_window)

    @property
    def window_seconds(self) -> int:
        return max(1, math.ceil(self.window.total_seconds()))


class CvcGuard:
    def __init__(
        self, app: Application[UUID], policy: CvcPolicy, now: Callable[[], datetime]
    ) -> None:
        """`app` holds the counts (its store); `now` is the application's clock (read on every
        call, so a test may swap it)."""
        self.app = app
        self.policy = policy
        self._now = now

    def check(self, client: str) -> None:
        """Raises CvcThrottled while the caller `client` is locked out."""
        now = self._now()
        keys = self._keys(client)
        loaded = self._load(keys, now)
        states = [key_state(loaded[key], now, self.policy.window) for key in keys]
        until = [s.locked_until for s in states if s.locked_until is not None]
        if until:
            wait = (max(until) - now).total_seconds()
            raise CvcThrottled(retry_after=max(1, math.ceil(wait)))

    def failed(self, client: str, *, cause: Cause) -> bool:
        """Counts a failed request of the caller `client` (`cause` is recorded with it: which
        request). True if it locked the caller out (once per lock-out: the caller of this
        method records the event then)."""
        keys = self._keys(client)
        for attempt in range(COUNT_ATTEMPTS):
            now = self._now()
            loaded = self._load(keys, now)
            changed: list[CvcFailures] = []
            started = [self._count(key, loaded[key], now, cause, changed) for key in keys]
            if not changed:
                return False  # Locked out already (failures that raced past check).
            try:
                self.app.save(*changed)
            except IntegrityError:
                # Another request counted on one of the keys meanwhile: count again on top of it.
                # A little random wait spreads the retries of a burst.
                time.sleep(random.uniform(0, _BACKOFF * min(attempt + 1, 8)))  # noqa: S311
                continue
            return started[0]
        logger.warning("a failed CVC request could not be counted; answered as throttled")
        raise CvcThrottled(retry_after=1)

    def _keys(self, client: str) -> tuple[_Key]:
        return (_Key("client", client, self.policy.max_failures),)

    def _load(self, keys: Iterable[_Key], now: datetime) -> dict[_Key, list[CvcFailures]]:
        """The buckets of each key around `now`, oldest first: the previous one (its failures
        and lock-out may still be within the window), the current one, and the next one (made
        by a process whose clock is ahead). One read for all of them."""
        seconds = self.policy.window_seconds
        current = bucket_of(now, seconds)
        ids = {
            cvc_failures_id(key.kind, key.name, seconds, bucket): key
            for key in keys
            for bucket in (current - 1, current, current + 1)
        }
        loaded: dict[_Key, list[CvcFailures]] = {key: [] for key in keys}
        for aggregate_id, aggregate in aggregates_of_many(self.app, ids).items():
            if isinstance(aggregate, CvcFailures):
                loaded[ids[aggregate_id]].append(aggregate)
        for buckets in loaded.values():
            buckets.sort(key=lambda b: b.bucket)
        return loaded

    def _count(
        self,
        key: _Key,
        buckets: list[CvcFailures],
        now: datetime,
        cause: Cause,
        changed: list[CvcFailures],
    ) -> bool:
        """Appends the failure to the key's tip (adding what is to be saved to `changed`); True
        if it starts a lock-out."""
        window = self.policy.window
        state = key_state(buckets, now, window)
        if state.locked_until is not None:
            return False  # A failure that raced past check(): the lock-out already holds.
        seconds = self.policy.window_seconds
        current = bucket_of(now, seconds)
        tip = buckets[-1] if buckets else None
        if tip is not None and tip.bucket >= current:
            counting = tip  # The newest bucket, even if our clock has not reached it yet.
        else:
            counting = CvcFailures.open(key.kind, key.name, seconds, current, cause=cause)
            if tip is not None:
                # Closes the old tip at the version we read, so that a writer still counting
                # on it conflicts with us instead of counting beside us.
                tip.supersede(by_bucket=counting.bucket, cause=cause)
                changed.append(tip)
        counting.fail(at=now, cause=cause)
        changed.append(counting)
        failures = state.failures + 1
        if failures < key.limit:
            return False
        counting.lock_out(at=now, until=now + window, failures=failures, cause=cause)
        return True


@attrs.frozen
class _Key:
    kind: KeyKind
    name: str
    limit: int
