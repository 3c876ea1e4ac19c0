"""The certificate pool: its name, its low watermark, when it ran low (POOL_LOW) and when it ran
dry (ISSUE_BLOCKED).

Which certificates a pool holds is not state of this aggregate (that would make every
reservation contend on one aggregate); the application keeps that as a read model.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Final
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from gcp_domain.cause import Cause
from gcp_domain.errors import InvalidCommand

POOL_NAMESPACE: Final = uuid5(NAMESPACE_URL, "urn:gcp:pool")
# Repeated ISSUE_BLOCKED publications for one shortage are spaced at least this far apart,
# so a burst of refused reservations publishes one fact, not thousands.
BLOCKED_REPUBLISH_AFTER: Final = timedelta(minutes=1)
DEFAULT_LOW_WATERMARK: Final = 100


# 1 to 64 ASCII letters, digits, '.', '_' or '-', beginning with a letter or digit (so no
# "..", no ".hidden", nothing a path or a shell reads otherwise).
POOL_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_pool_name(name: str) -> str:
    if not POOL_NAME.fullmatch(name):
        raise InvalidCommand(
            "a pool name has 1 to 64 letters, digits, '.', '_' or '-', "
            "and begins with a letter or digit"
        )
    return name


def _check_low_watermark(low_watermark: int) -> None:
    if low_watermark < 0:
        raise InvalidCommand("the low watermark is not negative")


class CertificatePool(Aggregate):
    TOPIC = "gcp:CertificatePool"

    class Event(Aggregate.Event):
        cause: Cause

    class Created(Event, Aggregate.Created):
        TOPIC = "gcp:CertificatePool.Created"
        name: str
        low_watermark: int

    class CertificatesAdded(Event):
        TOPIC = "gcp:CertificatePool.CertificatesAdded"
        count: int
        source: str

    class IssueBlocked(Event):
        TOPIC = "gcp:CertificatePool.IssueBlocked"
        reason: str
        blocked_at: datetime

    class LowWatermarkChanged(Event):
        TOPIC = "gcp:CertificatePool.LowWatermarkChanged"
        low_watermark: int

    class RanLow(Event):
        """POOL_LOW: the available count fell below the low watermark."""

        TOPIC = "gcp:CertificatePool.RanLow"
        available: int
        low_watermark: int

    class Replenished(Event):
        """Restocked to the low watermark or above: the next fall below is news again."""

        TOPIC = "gcp:CertificatePool.Replenished"
        available: int

    @staticmethod
    def create_id(name: str) -> UUID:
        return pool_id(name)

    @classmethod
    def create(
        cls, *, name: str, low_watermark: int = DEFAULT_LOW_WATERMARK, cause: Cause
    ) -> CertificatePool:
        check_pool_name(name)
        _check_low_watermark(low_watermark)
        # A typed name: the library's constructor returns Any to some mypy versions.
        pool: CertificatePool = cls(name=name, low_watermark=low_watermark, cause=cause)
        return pool

    @event(Created)
    def __init__(self, name: str, low_watermark: int, cause: Cause) -> None:
        self.name = name
        self.low_watermark = low_watermark
        self.blocked_at: datetime | None = None
        self.total_added = 0
        self.running_low = False

    def record_added(self, *, count: int, source: str, cause: Cause) -> None:
        if count <= 0:
            raise InvalidCommand("a pool grows by a positive count")
        self._add(count=count, source=source, cause=cause)

    @event(CertificatesAdded)
    def _add(self, count: int, source: str, cause: Cause) -> None:
        self.total_added += count
        self.blocked_at = None

    def report_exhausted(self, *, at: datetime, cause: Cause) -> bool:
        """ISSUE_BLOCKED, once per shortage (again only after BLOCKED_REPUBLISH_AFTER)."""
        if self.blocked_at is not None and at - self.blocked_at < BLOCKED_REPUBLISH_AFTER:
            return False
        self._block(reason="POOL_EXHAUSTED", blocked_at=at, cause=cause)
        return True

    @event(IssueBlocked)
    def _block(self, reason: str, blocked_at: datetime, cause: Cause) -> None:
        self.blocked_at = blocked_at

    def report_low(self, *, available: int, cause: Cause) -> bool:
        """POOL_LOW when `available` is below the low watermark, once until replenished."""
        if self.running_low or available >= self.low_watermark:
            return False
        self._run_low(available=available, low_watermark=self.low_watermark, cause=cause)
        return True

    @event(RanLow)
    def _run_low(self, available: int, low_watermark: int, cause: Cause) -> None:
        self.running_low = True

    def report_restocked(self, *, available: int, cause: Cause) -> bool:
        """After a restock: a pool that ran low is replenished once `available` reaches the low
        watermark (a reservation given back is no restock: the pool would flap around it)."""
        if not self.running_low or available < self.low_watermark:
            return False
        self._replenish(available=available, cause=cause)
        return True

    @event(Replenished)
    def _replenish(self, available: int, cause: Cause) -> None:
        self.running_low = False

    def set_low_watermark(self, *, low_watermark: int, cause: Cause) -> bool:
        _check_low_watermark(low_watermark)
        if low_watermark == self.low_watermark:
            return False
        self._set_low_watermark(low_watermark=low_watermark, cause=cause)
        return True

    @event(LowWatermarkChanged)
    def _set_low_watermark(self, low_watermark: int, cause: Cause) -> None:
        self.low_watermark = low_watermark


def pool_id(name: str) -> UUID:
    return uuid5(POOL_NAMESPACE, name)
