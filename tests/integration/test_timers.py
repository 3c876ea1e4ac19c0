"""The timers: lapsed reservations go back to their pool, certificates past expiresAt expire.

Both are idempotent and safe with two instances on one store: whatever runs them, each
certificate gets exactly one event.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from tests.integration import certificates
from tests.integration.certificates import (
    all_topics,
    assert_applied_once,
    count_events,
    lock,
    redeem,
    reserve,
    reverse,
)
from tests.integration.conftest import DURABLE
from tests.issuing import ADMIN, POOL

from gcp_app.application import GiftCertificates
from gcp_app.errors import PoolExhausted
from gcp_app.settings import Settings
from gcp_app.timers import EXPIRY_ACTOR, RESERVATIONS_ACTOR, Timers
from gcp_app.use_cases import (
    CancelCertificate,
    RecordRefundStep,
    ReleaseLapsedReservation,
    ReleaseReservation,
)
from gcp_domain import Cause, CertificateState, GiftCertificate, Money
from gcp_domain.stream import rfc3339
from gcp_domain.vocabulary import PaymentEvent

S = CertificateState
TTL = timedelta(seconds=900)  # GCP_RESERVATION_TTL_SECONDS's default
VALIDITY = timedelta(days=30)


def issue(app: GiftCertificates, order_id: str, *, amount: str = "5000.00") -> UUID:
    """A certificate issued for `order_id`, valid for VALIDITY."""
    return certificates.issue(app, order_id, amount=amount, validity_days=VALIDITY.days)


# ====================================================================== reservations


def test_a_reservation_is_released_after_the_ttl_not_before(
    stocked: GiftCertificates, clock: Any
) -> None:
    timers = Timers(stocked)
    certificate_id = reserve(stocked, "WEB-1")
    reserved_until = clock.now() + TTL

    assert timers.release_lapsed_reservations() == 0
    clock.advance(TTL - timedelta(seconds=1))
    assert timers.release_lapsed_reservations() == 0
    assert stocked.get_certificate(certificate_id).state is S.RESERVED

    clock.advance(timedelta(seconds=1))
    assert timers.release_lapsed_reservations() == 1

    assert stocked.get_certificate(certificate_id).state is S.AVAILABLE
    status = stocked.pool_status(POOL)
    assert (status.available, status.reserved) == (6, 0)
    last = stocked.history(certificate_id)[-1]
    assert last.event == "ReservationReleased"
    assert last.details == {"reason": "RESERVATION_TIMEOUT"}
    assert last.actor == RESERVATIONS_ACTOR
    assert last.causation_id == (f"reservation-timeout:{certificate_id}:{rfc3339(reserved_until)}")
    assert last.correlation_id == "WEB-1"
    assert stocked.pool_index.pending_deadlines() == (0, 0)


def test_a_released_certificate_reads_reservation_released(
    stocked: GiftCertificates, clock: Any
) -> None:
    certificate_id = reserve(stocked, "WEB-1")
    clock.advance(TTL)

    Timers(stocked).release_lapsed_reservations()

    published = stocked.current_object(certificate_id)
    assert published["status"] == "RESERVATION_RELEASED"
    assert published["state"] == "AVAILABLE"
    assert published["reason"] == "RESERVATION_TIMEOUT"
    assert published["audit"]["updatedBy"] == "timer:reservations"
    assert published["reservation"] is None


def test_an_issued_reservation_is_not_released(stocked: GiftCertificates, clock: Any) -> None:
    certificate_id = issue(stocked, "WEB-1")
    clock.advance(TTL * 2)

    assert Timers(stocked).release_lapsed_reservations() == 0

    assert stocked.get_certificate(certificate_id).state is S.ACTIVE
    assert count_events(stocked, GiftCertificate.ReservationReleased) == Counter()


def test_released_certificates_are_reserved_again(app: GiftCertificates, clock: Any) -> None:
    app.pools.generate_certificates(POOL, 2, cause=ADMIN)
    first = {reserve(app, "WEB-1"), reserve(app, "WEB-2")}
    with pytest.raises(PoolExhausted):
        reserve(app, "WEB-3")
    clock.advance(TTL)

    assert Timers(app).release_lapsed_reservations() == 2

    again = {reserve(app, "WEB-3"), reserve(app, "WEB-4")}
    assert again == first
    assert {app.get_certificate(c).state for c in again} == {S.RESERVED}


def test_a_new_reservation_after_an_early_release_keeps_its_own_deadline(
    app: GiftCertificates, clock: Any
) -> None:
    app.pools.generate_certificates(POOL, 1, cause=ADMIN)
    timers = Timers(app)
    certificate_id = reserve(app, "WEB-1")
    app.execute(
        ReleaseReservation(certificate_id=certificate_id, reason="PAYMENT_FAILED", cause=ADMIN)
    )
    clock.advance(TTL / 2)
    assert reserve(app, "WEB-2") == certificate_id

    clock.advance(TTL / 2)  # The first reservation's deadline: not this one's.
    assert timers.release_lapsed_reservations() == 0
    assert app.get_certificate(certificate_id).state is S.RESERVED

    clock.advance(TTL / 2)
    assert timers.release_lapsed_reservations() == 1
    assert app.history(certificate_id)[-1].correlation_id == "WEB-2"


def test_the_release_command_checks_the_deadline_itself(
    stocked: GiftCertificates, clock: Any
) -> None:
    certificate_id = reserve(stocked, "WEB-1")
    cause = Cause(RESERVATIONS_ACTOR, "early", "early")

    assert not stocked.execute(ReleaseLapsedReservation(certificate_id=certificate_id, cause=cause))
    clock.advance(TTL)
    assert_applied_once(
        stocked, ReleaseLapsedReservation(certificate_id=certificate_id, cause=cause)
    )


def test_a_limit_bounds_one_call_and_a_tick_drains_them_all(
    stocked: GiftCertificates, clock: Any
) -> None:
    reserved = {reserve(stocked, f"WEB-{n}") for n in range(5)}
    clock.advance(TTL)
    timers = Timers(stocked)

    assert timers.release_lapsed_reservations(limit=2) == 2
    assert timers.tick(limit=2) == (3, 0)

    assert {stocked.get_certificate(c).state for c in reserved} == {S.AVAILABLE}
    assert timers.stats.released == 5
    with pytest.raises(ValueError, match="positive"):
        timers.release_lapsed_reservations(limit=0)


# ====================================================================== expiry


def test_expiry_after_expires_at_not_before(stocked: GiftCertificates, clock: Any) -> None:
    timers = Timers(stocked)
    certificate_id = issue(stocked, "WEB-1")
    expires_at = clock.now() + VALIDITY

    clock.advance(VALIDITY - timedelta(seconds=1))
    assert timers.expire_due() == 0
    assert stocked.get_certificate(certificate_id).state is S.ACTIVE

    clock.advance(timedelta(seconds=1))
    assert timers.expire_due() == 1

    published = stocked.current_object(certificate_id)
    assert published["status"] == "EXPIRED"
    assert published["state"] == "EXPIRED"
    assert published["remainingBalance"] == "5000.00"
    assert published["audit"]["updatedBy"] == EXPIRY_ACTOR
    last = stocked.history(certificate_id)[-1]
    assert last.causation_id == f"expiry:{certificate_id}:{rfc3339(expires_at)}"
    assert last.correlation_id == "WEB-1"
    assert stocked.pool_index.pending_deadlines() == (0, 0)


def test_a_locked_certificate_expires(stocked: GiftCertificates, clock: Any) -> None:
    certificate_id = issue(stocked, "WEB-1")
    lock(stocked, certificate_id, "fraud check")
    clock.advance(VALIDITY)

    assert Timers(stocked).expire_due() == 1

    assert stocked.get_certificate(certificate_id).state is S.EXPIRED
    assert stocked.current_object(certificate_id)["lock"] is None


def test_a_fully_redeemed_certificate_does_not_expire_until_a_reversal(
    stocked: GiftCertificates, clock: Any
) -> None:
    certificate_id = issue(stocked, "WEB-1", amount="10.00")
    redeem(
        stocked,
        certificate_id,
        "PAY-R",
        "10.00",
        order_id="POS-1",
        cause=Cause("kafka:All_Payments", "msg-r", "POS-1"),
    )
    clock.advance(VALIDITY)
    timers = Timers(stocked)

    assert timers.expire_due() == 0
    assert timers.stats.skipped == 1
    assert stocked.get_certificate(certificate_id).state is S.REDEEMED
    # Parked: the next ticks do not read it again until the certificate changes.
    assert timers.expire_due() == 0
    assert timers.stats.skipped == 1
    assert stocked.pool_index.pending_deadlines() == (0, 0)

    refund = Cause("kafka:All_Payments", "msg-rev", "POS-1")
    reverse(stocked, certificate_id, "4.00", refund="PAY-REV", of="PAY-R", cause=refund)
    assert timers.expire_due() == 1
    assert stocked.get_certificate(certificate_id).state is S.EXPIRED


@DURABLE
def test_cancelled_and_refunded_certificates_leave_the_deadlines(
    make_app: Callable[[], GiftCertificates], clock: Any
) -> None:
    app = make_app()
    app.pools.generate_certificates(POOL, 3, cause=ADMIN)
    cancelled = issue(app, "WEB-1")
    refunded = issue(app, "WEB-2")
    kept = issue(app, "WEB-3")
    assert app.pool_index.pending_deadlines() == (0, 3)
    app.execute(CancelCertificate(certificate_id=cancelled, reason="ORDER_CANCELLED", cause=ADMIN))
    app.execute(
        RecordRefundStep(
            certificate_id=refunded,
            step=PaymentEvent.REFUND_COMPLETED,
            order_id="WEB-2",
            payment_id="REF-1",
            amount=Money.of("5000.00"),
            cause=ADMIN,
        )
    )
    assert app.pool_index.pending_deadlines() == (0, 1)

    restarted = make_app()  # Finds every deadline in the store's pool index.
    assert restarted.pool_index.pending_deadlines() == (0, 1)
    clock.advance(VALIDITY)
    assert Timers(restarted).expire_due() == 1
    assert count_events(restarted, GiftCertificate.Expired) == Counter({kept: 1})


# ====================================================================== idempotence and instances


def test_running_the_timers_twice_records_nothing_more(
    stocked: GiftCertificates, clock: Any
) -> None:
    reserve(stocked, "WEB-1")
    issue(stocked, "WEB-2")
    clock.advance(VALIDITY)
    timers = Timers(stocked)

    assert timers.tick() == (1, 1)
    recorded = all_topics(stocked)
    assert timers.tick() == (0, 0)
    assert Timers(stocked).tick() == (0, 0)

    assert all_topics(stocked) == recorded


@DURABLE
def test_another_instance_finds_the_deadlines_in_the_log(
    make_app: Callable[[], GiftCertificates], clock: Any
) -> None:
    writer = make_app()
    writer.pools.generate_certificates(POOL, 4, cause=ADMIN)
    reserved = reserve(writer, "WEB-1")
    issued = issue(writer, "WEB-2")
    clock.advance(VALIDITY)
    other = make_app()

    assert Timers(other).tick() == (1, 1)

    assert writer.get_certificate(reserved).state is S.AVAILABLE
    assert writer.get_certificate(issued).state is S.EXPIRED
    # The writer's own index learns of it from the log, and finds nothing left to do.
    assert Timers(writer).tick() == (0, 0)
    assert writer.pool_index.pending_deadlines() == (0, 0)


@DURABLE
def test_two_instances_at_once_record_one_event_per_certificate(
    make_app: Callable[[], GiftCertificates], clock: Any
) -> None:
    first, second = make_app(), make_app()
    first.pools.generate_certificates(POOL, 24, cause=ADMIN)
    reserved = {reserve(first, f"WEB-R{n}") for n in range(12)}
    issued = {issue(first, f"WEB-I{n}") for n in range(12)}
    clock.advance(VALIDITY)
    timers = [Timers(first), Timers(second)]
    start = threading.Barrier(len(timers))
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def run(instance: Timers) -> None:
        start.wait()
        try:
            results.append(instance.tick(limit=5))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(t,)) for t in timers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(r[0] for r in results) == 12
    assert sum(r[1] for r in results) == 12
    assert count_events(first, GiftCertificate.ReservationReleased) == Counter(
        dict.fromkeys(reserved, 1)
    )
    assert count_events(first, GiftCertificate.Expired) == Counter(dict.fromkeys(issued, 1))
    assert sum(t.stats.failed for t in timers) == 0
    # Both again, one after the other: nothing more.
    assert [t.tick() for t in timers] == [(0, 0), (0, 0)]
    assert sum(count_events(second, GiftCertificate.Expired).values()) == 12


# ====================================================================== the loop and its setting


def test_the_interval_is_a_setting(tmp_path: Path) -> None:
    base = {"GCP_VAR_DIR": str(tmp_path)}
    assert Settings.from_env(base).timer_interval == timedelta(seconds=5)
    changed = Settings.from_env({**base, "GCP_TIMER_INTERVAL_SECONDS": "30"})
    assert changed.timer_interval == timedelta(seconds=30)


def test_run_ticks_until_stopped(stocked: GiftCertificates, clock: Any) -> None:
    certificate_id = reserve(stocked, "WEB-1")
    clock.advance(TTL)
    timers = Timers(stocked)
    stop = threading.Event()
    thread = threading.Thread(target=timers.run, args=(stop,), kwargs={"interval": 0.01})

    thread.start()
    try:
        for _ in range(500):
            if timers.stats.released:
                break
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join(timeout=10)

    assert not thread.is_alive()
    assert timers.stats.released == 1
    assert timers.stats.ticks >= 1
    assert stocked.get_certificate(certificate_id).state is S.AVAILABLE
