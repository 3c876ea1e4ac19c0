"""Running a test's body in several threads at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def concurrently(
    count: int, body: Callable[[int], Any], timeout: float | None = None
) -> tuple[list[Any], list[BaseException]]:
    """`body(0)` to `body(count - 1)`, each in a thread of its own, released together: what
    they returned and what they raised (in the order they finished). Each thread is awaited at
    most `timeout` seconds (None: until it ends)."""
    answers: list[Any] = []
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(n: int) -> None:
        start.wait()
        try:
            answers.append(body(n))
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout)
    return answers, errors
