"""The pool index's table for the in-memory store (tests, the harness, trying GCP out).

It answers what gcp_app.pool_tables answers on a database, from a dict written under the
memory recorder's lock with the events, and by scanning: the memory store holds what fits in
memory and is no place for size.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import attrs

from gcp_app.pool_rows import Deadline, DeadlineKind, PoolRow, latest_rows
from gcp_domain.vocabulary import CertificateState


@attrs.define
class _Held:
    row: PoolRow
    parked: set[DeadlineKind] = attrs.field(factory=set)

    def deadline(self, kind: DeadlineKind) -> tuple[datetime, str | None] | None:
        if kind in self.parked:
            return None
        if kind is DeadlineKind.RESERVATION:
            at, order = self.row.reserved_until, self.row.reservation_order
        else:
            at, order = self.row.expires_at, self.row.expiry_order
        return None if at is None else (at, order)


class MemoryPoolTable:
    def __init__(self) -> None:
        self._rows: dict[UUID, _Held] = {}
        self._lock = threading.Lock()

    def write(self, rows: Sequence[PoolRow]) -> None:
        with self._lock:
            for row in latest_rows(rows):
                held = self._rows.get(row.certificate_id)
                if held is None or held.row.version < row.version:
                    self._rows[row.certificate_id] = _Held(row)

    def write_alone(self, rows: Sequence[PoolRow]) -> None:
        self.write(rows)

    def candidates(self, pool: str, start: UUID, count: int) -> list[UUID]:
        with self._lock:
            available = sorted(
                held.row.certificate_id
                for held in self._rows.values()
                if held.row.pool == pool and held.row.state is CertificateState.AVAILABLE
            )
        ordered = [i for i in available if i >= start] + [i for i in available if i < start]
        return ordered[:count]

    def available_up_to(self, pool: str, limit: int) -> int:
        return min(self.state_counts(pool).get(CertificateState.AVAILABLE, 0), limit)

    def state_counts(self, pool: str) -> dict[CertificateState, int]:
        with self._lock:
            return dict(Counter(h.row.state for h in self._rows.values() if h.row.pool == pool))

    def pools(self) -> list[str]:
        with self._lock:
            return sorted({held.row.pool for held in self._rows.values()})

    def due(self, kind: DeadlineKind, now: datetime, limit: int) -> list[Deadline]:
        with self._lock:
            found = [
                Deadline(held.row.certificate_id, at, order, held.row.version)
                for held in self._rows.values()
                if (deadline := held.deadline(kind)) is not None
                for at, order in (deadline,)
                if at <= now
            ]
        return sorted(found, key=lambda deadline: deadline.at)[:limit]

    def park(self, kind: DeadlineKind, deadline: Deadline) -> None:
        with self._lock:
            held = self._rows.get(deadline.certificate_id)
            if held is not None and held.row.version == deadline.version:
                held.parked.add(kind)

    def pending(self, kind: DeadlineKind) -> int:
        with self._lock:
            return sum(1 for held in self._rows.values() if held.deadline(kind) is not None)

    def is_empty(self) -> bool:
        with self._lock:
            return not self._rows
