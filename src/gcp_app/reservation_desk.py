"""Group commit for reservations: the requests that arrive together are served together.

Every stored change takes the events table's lock and a commit (a WAL flush) in PostgreSQL, so
reserving one certificate per transaction caps the channels at a few hundred reservations a
second. Each of the desk's clerks (threads) takes every request waiting (up to `max_group`)
and hands them to `GiftCertificates.reserve_many`, which reserves them in one transaction;
while one group commits, the next gathers and is prepared. A lone request is served at once,
so nothing waits for a group to fill. Callers get a `Future`: sync code blocks on it, async
code awaits it (`asyncio.wrap_future`) without holding a thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import Final
from uuid import UUID

import attrs

from gcp_domain.cause import Cause

log = logging.getLogger(__name__)

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
_Item = tuple[ReservationRequest, Future[ReservationGranted]]
ReserveMany = Callable[[Sequence[ReservationRequest]], list[Answer]]


class DeskClosed(RuntimeError):
    """The service is stopping: no new reservations."""


class ReservationDesk:
    def __init__(
        self, reserve_many: ReserveMany, *, max_group: int = MAX_GROUP, clerks: int = CLERKS
    ) -> None:
        self._reserve_many = reserve_many
        self._max_group = max_group
        self._clerks = clerks
        # None is close()'s wake-up, one per clerk: queued last, it never reaches reserve_many.
        self._waiting: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, request: ReservationRequest) -> Future[ReservationGranted]:
        """Queues the request; the future ends with its reservation or its refusal."""
        future: Future[ReservationGranted] = Future()
        with self._lock:  # so that nothing is queued behind close()'s wake-up
            if self._closed:
                raise DeskClosed("the reservation desk is closed")
            if not self._threads:
                self._threads = [
                    threading.Thread(target=self._serve, name=f"reservation-clerk-{n}", daemon=True)
                    for n in range(self._clerks)
                ]
                for thread in self._threads:
                    thread.start()
            self._waiting.put((request, future))
        return future

    def reserve(self, request: ReservationRequest) -> ReservationGranted:
        return self.submit(request).result()

    def close(self) -> None:
        """Serves what is queued, then stops the clerks."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for _ in self._threads:
                self._waiting.put(None)
        for thread in self._threads:
            thread.join()

    def _serve(self) -> None:
        stopping = False
        while not stopping:
            group: list[_Item] = []
            item = self._waiting.get()
            while item is not None:
                if item[1].set_running_or_notify_cancel():  # else the caller gave up waiting
                    group.append(item)
                if len(group) == self._max_group:
                    break
                try:
                    item = self._waiting.get_nowait()
                except queue.Empty:
                    break
            stopping = item is None
            self._answer(group)

    def _answer(self, group: list[_Item]) -> None:
        if not group:
            return
        try:
            answers = self._reserve_many([request for request, _ in group])
            if len(answers) != len(group):
                raise RuntimeError(f"{len(answers)} answers for {len(group)} reservations")
        except BaseException as error:
            log.exception("a group of %d reservations failed", len(group))
            for _, future in group:
                future.set_exception(error)
            return
        for (_, future), answer in zip(group, answers, strict=True):
            if isinstance(answer, ReservationGranted):
                future.set_result(answer)
            else:
                future.set_exception(answer)
