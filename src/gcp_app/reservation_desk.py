"""Group commit for reservations: the requests that arrive together are served together.

Every stored change takes the events table's lock and a commit (a WAL flush) in PostgreSQL, so
reserving one certificate per transaction caps the channels at a few hundred reservations a
second. The reservation desk (a `gcp_app.desk.Desk`) hands every request waiting (up to
`max_group`) to `Reservations.reserve_many`, which reserves them in one transaction; while one
group commits, the next gathers and is prepared.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Final
from uuid import UUID

import attrs

from gcp_app.desk import Desk, DeskClosed
from gcp_domain.cause import Cause

__all__ = ["Answer", "DeskClosed", "ReservationDesk", "ReservationGranted", "ReservationRequest"]

# Large enough to absorb every channel's concurrent requests; small enough that one
# transaction stays short (a group of 64 commits in a few milliseconds).
MAX_GROUP: Final = 64
# Two clerks, so that one group is prepared while the other waits for its commit.
CLERKS: Final = 2


@attrs.frozen
class ReservationRequest:
    pool: str
    channel: str
    cause: Cause
    order_id: str | None = None
    idempotency_key: str | None = None


@attrs.frozen
class ReservationGranted:
    certificate_id: UUID
    number: str
    pool: str
    reserved_until: datetime


# Per request: its reservation, or what `reserve_next` would have raised for it alone (a
# refusal, or a store failure that reached only this request).
Answer = ReservationGranted | Exception
ReserveMany = Callable[[Sequence[ReservationRequest]], list[Answer]]


class ReservationDesk(Desk[ReservationRequest, ReservationGranted]):
    def __init__(
        self, reserve_many: ReserveMany, *, max_group: int = MAX_GROUP, clerks: int = CLERKS
    ) -> None:
        super().__init__(reserve_many, name="reservation", max_group=max_group, clerks=clerks)

    def reserve(self, request: ReservationRequest) -> ReservationGranted:
        return self.ask(request)
