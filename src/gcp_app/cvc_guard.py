"""Throttling of the CVC endpoint: failure windows per certificate and per client.

A failed CVC request (no such certificate, a wrong or closed notificationId, a locked or
unissued certificate: everything the caller sees as "not found") counts against the certificate
id it named and against the client (the token's subject) that made it. After `max_failures` on
one certificate id within `window`, that id is locked out for `window`: every request for it is
refused, the right notificationId included. After `max_client_failures` by one client within
`window`, that client is locked out likewise, whatever certificate it names.

Certificate ids are counted whether or not the certificate exists, so an unknown id and a real
one answer alike on the sixth attempt as on the first (the lock-out *event* is recorded only on
a certificate that exists: `GiftCertificates.disclose_cvc`). A lock-out starts once per window:
`failed()` says True for the failure that started it, and only for that one.

The state is in-process and thread-safe (one lock; every operation is O(failures in the window)
of one key). It is lost on restart and not shared between processes: each instance throttles on
its own, so N instances allow at most N times the attempts. Expired entries are swept as the
guard is used, so the memory is bounded by the failures of the last window.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta
from typing import Final

import attrs

from gcp_domain.errors import DomainError

# Sweep expired entries after this many recorded failures.
_SWEEP_EVERY: Final = 1024


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
    max_failures: int = 5
    max_client_failures: int = 20
    window: timedelta = timedelta(minutes=15)

    @property
    def window_seconds(self) -> int:
        return max(1, math.ceil(self.window.total_seconds()))


@attrs.define
class _Window:
    """The failures of one key within the window, and its lock-out, if any."""

    failures: deque[datetime] = attrs.field(factory=deque)
    locked_until: datetime | None = None

    def prune(self, now: datetime, window: timedelta) -> None:
        if self.locked_until is not None and self.locked_until <= now:
            self.locked_until = None
            self.failures.clear()
        while self.failures and self.failures[0] <= now - window:
            self.failures.popleft()

    @property
    def empty(self) -> bool:
        return not self.failures and self.locked_until is None


class CvcGuard:
    def __init__(self, policy: CvcPolicy, now: Callable[[], datetime]) -> None:
        """`now` is the application's clock (read on every call, so a test may swap it)."""
        self.policy = policy
        self._now = now
        self._lock = threading.Lock()
        self._certificates: dict[Hashable, _Window] = {}
        self._clients: dict[Hashable, _Window] = {}
        self._recorded = 0

    def check(self, certificate_id: Hashable, client: str) -> None:
        """Raises CvcThrottled while the certificate id or the client is locked out."""
        now = self._now()
        with self._lock:
            until = [
                w.locked_until
                for w in (
                    self._current(self._certificates, certificate_id, now),
                    self._current(self._clients, client, now),
                )
                if w is not None and w.locked_until is not None
            ]
        if until:
            wait = (max(until) - now).total_seconds()
            raise CvcThrottled(retry_after=max(1, math.ceil(wait)))

    def failed(self, certificate_id: Hashable, client: str) -> bool:
        """Counts a failed request. True if it locked the certificate id out (once per
        lock-out: the caller records the event then)."""
        now = self._now()
        policy = self.policy
        with self._lock:
            self._recorded += 1
            if self._recorded % _SWEEP_EVERY == 0:
                self._sweep(now)
            started = self._count(self._certificates, certificate_id, now, policy.max_failures)
            self._count(self._clients, client, now, policy.max_client_failures)
        return started

    def _count(
        self, table: dict[Hashable, _Window], key: Hashable, now: datetime, limit: int
    ) -> bool:
        window = table.setdefault(key, _Window())
        window.prune(now, self.policy.window)
        if window.locked_until is not None:
            return False  # A failure that raced past check(): the lock-out already holds.
        window.failures.append(now)
        if len(window.failures) < limit:
            return False
        window.locked_until = now + self.policy.window
        return True

    def _current(
        self, table: dict[Hashable, _Window], key: Hashable, now: datetime
    ) -> _Window | None:
        window = table.get(key)
        if window is None:
            return None
        window.prune(now, self.policy.window)
        if window.empty:
            del table[key]
            return None
        return window

    def _sweep(self, now: datetime) -> None:
        for table in (self._certificates, self._clients):
            for key in list(table):
                self._current(table, key, now)

    def reset(self) -> None:
        """Forgets every count and lock-out (tests; an operator's restart does the same)."""
        with self._lock:
            self._certificates.clear()
            self._clients.clear()
