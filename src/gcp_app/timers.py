"""The timers: reservations not issued in time go back to their pool; issued certificates past
`expiresAt` expire.

The deadlines come from the pool index (`PoolIndex`), a table written with the events whose
partial indexes hold the live deadlines, so a tick costs the due certificates, not a scan. Each due
certificate is changed by its use case (ReleaseLapsedReservation, ExpireCertificate), which
re-reads it and lets the store decide: two instances running the timers at once record exactly
one event per certificate (the loser's write conflicts, it re-reads, and the use case finds
nothing left to do). A use case that finds nothing to do is counted as skipped, never an error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Final

import attrs

from gcp_app.application import GiftCertificates
from gcp_app.pool_rows import Deadline
from gcp_app.use_cases import CertificateCommand, ExpireCertificate, ReleaseLapsedReservation
from gcp_domain.cause import Cause
from gcp_domain.errors import DomainError
from gcp_domain.stream import rfc3339

log = logging.getLogger(__name__)

RESERVATIONS_ACTOR: Final = "timer:reservations"
EXPIRY_ACTOR: Final = "timer:expiry"
# Certificates handled per call; `tick` calls again while a call finds a full batch.
DEFAULT_LIMIT: Final = 500
# While ticks keep failing, one log line per this many seconds.
FAILURE_LOG_INTERVAL: Final = 60.0


@attrs.define
class TimerStats:
    """What the timers did since start (for metrics and logs)."""

    released: int = 0
    expired: int = 0
    # Nothing to do: another instance was first, the certificate changed meanwhile, or it
    # cannot expire (fully redeemed). Not an error.
    skipped: int = 0
    # A rule refused or the certificate kept changing: left for the next tick.
    failed: int = 0
    ticks: int = 0


@attrs.define
class _Failing:
    """Failing ticks, logged as an operator wants them: the first with its traceback, then one
    line a minute while they go on (the store away: not one a tick), and the recovery."""

    count: int = 0
    logged_at: float = 0.0
    monotonic: Callable[[], float] = time.monotonic

    def failed(self, seconds: float) -> None:
        self.count += 1
        now = self.monotonic()
        if self.count == 1:
            log.exception("the timers' tick failed; trying again every %s s", seconds)
            self.logged_at = now
        elif now - self.logged_at >= FAILURE_LOG_INTERVAL:
            log.warning("the timers' tick is still failing (%d ticks so far)", self.count)
            self.logged_at = now

    def recovered(self) -> None:
        if self.count:
            log.info("the timers tick again after %d failed ticks", self.count)
        self.count = 0


class Timers:
    def __init__(self, app: GiftCertificates) -> None:
        self.app = app
        self.stats = TimerStats()
        self._lock = threading.Lock()
        index = app.pool_index
        self._lapsed_reservations = _Timer(
            index.lapsed_reservations,
            index.defer_reservation,
            ReleaseLapsedReservation,
            RESERVATIONS_ACTOR,
            "reservation-timeout",
        )
        self._expiries = _Timer(
            index.due_expiries, index.defer_expiry, ExpireCertificate, EXPIRY_ACTOR, "expiry"
        )

    def release_lapsed_reservations(self, limit: int = DEFAULT_LIMIT) -> int:
        """Releases up to `limit` reservations whose reservedUntil has passed on the app's
        clock (RESERVATION_RELEASED, reason RESERVATION_TIMEOUT). Returns how many."""
        return self._release(limit).changed

    def expire_due(self, limit: int = DEFAULT_LIMIT) -> int:
        """Expires up to `limit` issued certificates whose expiresAt has passed on the app's
        clock (the domain decides: ACTIVE, or LOCKED over ACTIVE). Returns how many."""
        return self._expire(limit).changed

    def tick(self, limit: int = DEFAULT_LIMIT) -> tuple[int, int]:
        """Both timers, again while a call finds a full batch: (released, expired)."""
        released, expired = _drain(self._release, limit), _drain(self._expire, limit)
        self.stats.ticks += 1
        return released, expired

    def _release(self, limit: int) -> _Sweep:
        sweep = self._sweep(limit, self._lapsed_reservations)
        self.stats.released += sweep.changed
        return sweep

    def _expire(self, limit: int) -> _Sweep:
        sweep = self._sweep(limit, self._expiries)
        self.stats.expired += sweep.changed
        return sweep

    def run(self, stop_event: threading.Event, interval: float | None = None) -> None:
        """Ticks every `interval` seconds (default GCP_TIMER_INTERVAL_SECONDS) until
        `stop_event` is set. A failing tick (the store unreachable) is logged and retried."""
        seconds = self.app.settings.timer_interval.total_seconds() if interval is None else interval
        failing = _Failing()
        while not stop_event.is_set():
            try:
                released, expired = self.tick()
            except Exception:
                failing.failed(seconds)
            else:
                failing.recovered()
                if released or expired:
                    log.info("timers: %d reservations released, %d expired", released, expired)
            stop_event.wait(seconds)

    def _sweep(self, limit: int, timer: _Timer) -> _Sweep:
        """Runs the timer's use case for each of its due deadlines."""
        if limit <= 0:
            raise ValueError("limit must be positive")
        with self._lock:  # One sweep at a time per instance; other instances are fine.
            deadlines = timer.due(self.app.clock.now(), limit)
            sweep = _Sweep(due=len(deadlines))
            for deadline in deadlines:
                cause = _cause(timer.actor, timer.kind, deadline)
                try:
                    done = self.app.execute(
                        timer.command(certificate_id=deadline.certificate_id, cause=cause)
                    )
                except DomainError as error:
                    self.stats.failed += 1
                    sweep.failed += 1
                    log.warning(
                        "%s of %s failed (%s); retrying on the next tick",
                        timer.kind,
                        deadline.certificate_id,
                        error.code,
                    )
                    continue
                if done:
                    sweep.changed += 1
                else:
                    self.stats.skipped += 1
                    timer.defer(deadline)
            return sweep


@attrs.frozen
class _Timer:
    """Where a timer finds its due deadlines, the use case it runs for each, and who it is."""

    due: Callable[[datetime, int], list[Deadline]]
    defer: Callable[[Deadline], None]
    command: type[CertificateCommand[bool]]
    actor: str
    kind: str


@attrs.define
class _Sweep:
    due: int
    changed: int = 0
    failed: int = 0


def _drain(sweep: Callable[[int], _Sweep], limit: int) -> int:
    """Sweeps until a batch is not full, or made no progress (every one failed: next tick)."""
    changed = 0
    while True:
        done = sweep(limit)
        changed += done.changed
        if done.due < limit or done.failed == done.due:
            return changed


def _cause(actor: str, kind: str, deadline: Deadline) -> Cause:
    """Stable per certificate and deadline: a second run, on any instance, names the same
    cause, so the history shows one timer decision however many tried."""
    causation_id = f"{kind}:{deadline.certificate_id}:{rfc3339(deadline.at)}"
    return Cause(actor, causation_id, deadline.order_id or causation_id)
