"""Reservations under concurrency: threads in one application, and several processes at once.

The store decides (optimistic concurrency), so no certificate is ever granted twice, and the
store's own record agrees with what the reservers were told.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

import pytest
from tests.integration.certificates import notifications, originator_ids
from tests.integration.conftest import DURABLE
from tests.issuing import ADMIN, POOL

from gcp_app.application import GiftCertificates
from gcp_app.errors import PoolExhausted, ReservationContention
from gcp_app.settings import Settings
from gcp_domain import Cause, CertificateState, GiftCertificate

log = logging.getLogger(__name__)

WORKER = Path(__file__).with_name("reservation_worker.py")


def reserve_many(app: GiftCertificates, count: int, name: str) -> Callable[[], list[UUID]]:
    """A thread body: up to `count` reservations (fewer if the pool runs dry)."""

    def body() -> list[UUID]:
        granted: list[UUID] = []
        for n in range(count):
            cause = Cause(f"test:{name}", f"{name}-{n}", "concurrency")
            while True:
                try:
                    granted.append(
                        app.reservations.reserve_next(
                            POOL, channel="THREAD", cause=cause
                        ).certificate_id
                    )
                    break
                except ReservationContention:
                    continue
                except PoolExhausted:
                    return granted
        return granted

    return body


def run_threads(bodies: list[Callable[[], list[UUID]]]) -> tuple[list[list[UUID]], list[Exception]]:
    results: list[list[UUID]] = [[] for _ in bodies]
    errors: list[Exception] = []
    start = threading.Barrier(len(bodies))

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = bodies[index]()
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def reservers_in_store_order(app: GiftCertificates) -> list[str]:
    """Who made each stored reservation: `test:worker-<pid>` or `test:t<n>`, in commit order."""
    reserved = notifications(app, GiftCertificate.Reserved, limit=1_000_000)
    return [app.store.mapper.to_domain_event(n).cause.actor for n in reserved]


def assert_interleaved(parties: list[str]) -> None:
    """Every party reserved before another's last reservation: they ran at the same time."""
    where: dict[str, list[int]] = {}
    for index, party in enumerate(parties):
        where.setdefault(party, []).append(index)
    for party, indices in where.items():
        for other, other_indices in where.items():
            if other != party:
                assert indices[0] < other_indices[-1], f"{party} began after {other} finished"


def assert_the_store_agrees(app: GiftCertificates, granted: list[UUID]) -> None:
    """Each granted certificate is RESERVED and was reserved exactly once; nothing else was."""
    reserved = Counter(originator_ids(app, GiftCertificate.Reserved, limit=1_000_000))
    assert set(reserved) == set(granted)
    assert set(reserved.values()) == {1}
    for certificate_id in granted:
        assert app.get_certificate(certificate_id).state is CertificateState.RESERVED


def assert_granted_once_each(
    app: GiftCertificates, granted: list[UUID], *, count: int, available: int
) -> None:
    """`count` certificates granted, none twice; the pool counts them reserved, `available`
    left; and the store agrees."""
    assert len(granted) == count
    assert len(set(granted)) == count
    status = app.pool_status(POOL)
    assert (status.available, status.reserved) == (available, count)
    assert_the_store_agrees(app, granted)


class Worker:
    """A reservation_worker.py process, started and waiting for the go."""

    def __init__(self, settings: Settings, count: int) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                settings.database_url,
                str(settings.var_dir),
                str(count),
                "--wait",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        ready = self.process.stderr.readline()
        assert ready == "ready\n", ready + self.process.stderr.read()

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def granted(self) -> list[UUID]:
        out, err = self.process.communicate(timeout=120)
        assert self.process.returncode == 0, err
        return [UUID(line) for line in out.split()]


def reserve_from_processes_and_threads(
    app: GiftCertificates, settings: Settings, *, per_process: int, threads: int, per_thread: int
) -> tuple[list[list[UUID]], list[list[UUID]], list[Exception]]:
    """Two worker processes (`per_process` reservations each) and `threads` threads of this
    process (`per_thread` each) reserve from the default pool at once. Returns what each
    thread was granted, what each process was, and the threads' errors."""
    workers = [Worker(settings, per_process) for _ in range(2)]
    for worker in workers:
        worker.go()
    results, errors = run_threads([reserve_many(app, per_thread, f"t{i}") for i in range(threads)])
    return results, [worker.granted() for worker in workers], errors


@DURABLE
def test_threads_of_one_application_never_share_a_certificate(app: GiftCertificates) -> None:
    app.pools.generate_certificates(POOL, 1800, cause=ADMIN)
    app.pool_status(POOL)  # the index has read the pool

    started = time.perf_counter()
    results, errors = run_threads([reserve_many(app, 200, f"t{i}") for i in range(8)])
    elapsed = time.perf_counter() - started

    granted = [g for result in results for g in result]
    log.info(
        "%s: %d reservations by 8 threads in %.2f s (%.0f/s)",
        app.settings.database_url.split(":", 1)[0],
        len(granted),
        elapsed,
        len(granted) / elapsed,
    )
    assert errors == []
    assert [len(result) for result in results] == [200] * 8
    assert_granted_once_each(app, granted, count=1600, available=200)


@pytest.mark.slow
@DURABLE
def test_processes_and_threads_never_share_a_certificate(
    app: GiftCertificates, settings: Settings, make_app: Callable[[], GiftCertificates]
) -> None:
    app.pools.generate_certificates(POOL, 1200, cause=ADMIN)
    app.pool_status(POOL)

    results, from_processes, errors = reserve_from_processes_and_threads(
        app, settings, per_process=300, threads=4, per_thread=120
    )

    assert errors == []
    assert [len(r) for r in from_processes] == [300, 300]
    assert [len(r) for r in results] == [120] * 4
    granted = [g for result in results + from_processes for g in result]
    fresh = make_app()
    assert_granted_once_each(fresh, granted, count=1080, available=120)
    # They really ran at once: the stored reservations of the parties interleave.
    # (SQLite hands its lock out unfairly, so one worker may wait for the other: the workers
    # are one party here.)
    actors = reservers_in_store_order(fresh)
    assert len({a for a in actors if a.startswith("test:worker-")}) == 2
    assert_interleaved(
        ["workers" if a.startswith("test:worker-") else "this process" for a in actors]
    )


@pytest.mark.slow
@DURABLE
def test_a_small_pool_emptied_concurrently_grants_exactly_its_size(
    app: GiftCertificates, settings: Settings, make_app: Callable[[], GiftCertificates]
) -> None:
    app.pools.generate_certificates(POOL, 60, cause=ADMIN)
    app.pool_status(POOL)

    results, from_processes, errors = reserve_from_processes_and_threads(
        app, settings, per_process=60, threads=3, per_thread=60
    )

    assert errors == []
    granted = [g for result in results + from_processes for g in result]
    fresh = make_app()
    assert_granted_once_each(fresh, granted, count=60, available=0)
    with pytest.raises(PoolExhausted):
        fresh.reservations.reserve_next(POOL, channel="THREAD", cause=ADMIN)
