"""POOL_LOW: whether a reservation took a pool below its low watermark (contract 1.1).

A reservation must stay cheap, so what the pool aggregate says (its watermark, whether it has
already reported running low) is read at most once every REREAD_SECONDS per pool in this
process; only a fall below the watermark that the pool has not reported loads the pool and
records RanLow. Another process may record it first: the store refuses the second save
(optimistic concurrency) and the pool reports once. A restock that brings the pool back to its
watermark replenishes it (gcp_app.use_cases.stocking), so that the next fall is news again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Final

import attrs
from eventsourcing.persistence import IntegrityError

from gcp_app.pool_index import PoolIndex
from gcp_app.store import EventStore
from gcp_domain.cause import Cause

# How stale this process's view of a pool's watermark may be (a changed watermark or a restock
# in another process is seen within this time).
REREAD_SECONDS: Final = 5.0

log = logging.getLogger(__name__)


@attrs.frozen
class _Seen:
    low_watermark: int
    running_low: bool
    read_at: float


class LowWatermarkWatch:
    def __init__(
        self,
        store: EventStore,
        index: PoolIndex,
        *,
        reread_seconds: float = REREAD_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._index = index
        self._reread_seconds = reread_seconds
        self._monotonic = monotonic
        self._seen: dict[str, _Seen] = {}

    def after_reservations(self, pools: Iterable[str], cause: Cause) -> None:
        """Records POOL_LOW for each of `pools` now below its watermark, once until restocked.

        Never fails: the reservations are committed and must reach their callers; a store that
        fails here is tried again after the next reservation."""
        for name in set(pools):
            try:
                self._watch(name, cause)
            except Exception:
                log.warning(
                    "could not check pool %r against its low watermark", name, exc_info=True
                )

    def _watch(self, name: str, cause: Cause) -> None:
        seen = self._seen.get(name)
        if seen is None or self._monotonic() - seen.read_at > self._reread_seconds:
            seen = self._read(name)
        if seen.running_low:
            return
        # Counts no further than the watermark: a check per reservation costs the same in a
        # pool of a hundred certificates as in one of a million.
        available = self._index.available_up_to(name, seen.low_watermark)
        if available >= seen.low_watermark:
            return
        pool = self._store.pool(name)
        if pool.report_low(available=available, cause=cause):
            with contextlib.suppress(IntegrityError):  # another process reported it
                self._store.save(pool)
        self._seen[name] = _Seen(pool.low_watermark, True, self._monotonic())

    def forget(self, name: str) -> None:
        """The pool changed here (restocked): read it again before the next check."""
        self._seen.pop(name, None)

    def _read(self, name: str) -> _Seen:
        pool = self._store.pool(name)
        seen = _Seen(pool.low_watermark, pool.running_low, self._monotonic())
        self._seen[name] = seen
        return seen
