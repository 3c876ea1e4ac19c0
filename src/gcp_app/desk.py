"""A desk serves the requests that arrive together as one group.

Each of its clerks (threads) takes every request waiting (up to `max_group`) and hands them to
one call that answers them all: one transaction for a group of reservations
(gcp_app.reservation_desk), one query for a group of reads of certificate states
(gcp_app.state_objects). While one group waits for the store, the next gathers. A lone request
is served at once, so nothing waits for a group to fill. Callers get a `Future`: sync code
blocks on it, async code awaits it (`asyncio.wrap_future`) without holding a thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

Q = TypeVar("Q")
A = TypeVar("A")

# Per request, in the order asked: its answer, or what serving it alone would have raised.
ServeMany = Callable[[Sequence[Q]], list[A | Exception]]


class DeskClosed(RuntimeError):
    """The service is stopping: no new requests."""


class Desk(Generic[Q, A]):
    def __init__(
        self, serve_many: ServeMany[Q, A], *, name: str, max_group: int, clerks: int
    ) -> None:
        self._serve_many = serve_many
        self._name = name
        self._max_group = max_group
        self._clerks = clerks
        # None is close()'s wake-up, one per clerk: queued last, it never reaches serve_many.
        self._waiting: queue.SimpleQueue[tuple[Q, Future[A]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, request: Q) -> Future[A]:
        """Queues the request; the future ends with its answer or its refusal."""
        future: Future[A] = Future()
        with self._lock:  # so that nothing is queued behind close()'s wake-up
            if self._closed:
                raise DeskClosed(f"the {self._name} desk is closed")
            if not self._threads:
                self._threads = [
                    threading.Thread(
                        target=self._serve, name=f"{self._name}-clerk-{n}", daemon=True
                    )
                    for n in range(self._clerks)
                ]
                for thread in self._threads:
                    thread.start()
            self._waiting.put((request, future))
        return future

    def ask(self, request: Q) -> A:
        """The request's answer, waited for (sync callers)."""
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
            group: list[tuple[Q, Future[A]]] = []
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

    def _answer(self, group: list[tuple[Q, Future[A]]]) -> None:
        if not group:
            return
        try:
            answers = self._serve_many([request for request, _ in group])
            if len(answers) != len(group):
                raise RuntimeError(f"{len(answers)} answers for {len(group)} requests")
        except BaseException as error:
            # Each caller gets the error and answers for it (the HTTP API: a 503 while the store
            # is away, counted and logged once a while; a 500 logged with its request id), so
            # the desk logs nothing: a store outage would log a traceback per group.
            for _, future in group:
                future.set_exception(error)
            return
        for (_, future), answer in zip(group, answers, strict=True):
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)
