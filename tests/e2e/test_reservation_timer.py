"""The reservation timer of `gcp serve`, end to end: a reservation that no order issues in time
goes back to the pool (RESERVATION_RELEASED on the stream), and a sale that arrives after that
still issues the certificate while it is AVAILABLE (the lapsed-reservation rule).

Its own service, on SQLite and on PostgreSQL: GCP_RESERVATION_TTL_SECONDS=2 (this process
reserves with the same settings, as the HTTP API of that deployment would), the timers ticking
every second.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from gcp_app.inbound import builders as build


def test_an_unissued_reservation_is_released_by_the_timer_and_can_still_be_sold(
    deploy: Any, store: str, kit: Any
) -> None:
    deployment = deploy(store, GCP_RESERVATION_TTL_SECONDS="2")
    order_id = kit.unique("WEB")
    (granted,) = deployment.reserve(order_id)
    certificate_id = granted.certificate_id

    deployment.wait_for_status(certificate_id, "RESERVATION_RELEASED")
    deployment.settle()
    reserved, released = deployment.check_stream(
        certificate_id, ["RESERVED", "RESERVATION_RELEASED"]
    )
    until = datetime.fromisoformat(reserved["reservation"]["until"])
    reserved_at = datetime.fromisoformat(reserved["occurredAt"])
    # reservedUntil is now + TTL on the application's clock, read just before the event's own
    # timestamp: the same instant to within a few milliseconds.
    assert abs(until - reserved_at - timedelta(seconds=2)) < timedelta(milliseconds=100)
    assert released["state"] == "AVAILABLE"
    assert released["reservation"] is None
    assert released["audit"]["updatedBy"] == "timer:reservations"
    assert datetime.fromisoformat(released["occurredAt"]) >= until

    # The order and its payment come late: the certificate is still AVAILABLE, so it is issued.
    line = build.certificate_line(certificate_id, "1000.00", notification_channel="NONE")
    deployment.send(kit.SALES, build.order(order_id, certificates=[line]))
    deployment.send(
        kit.PAYMENTS, build.payment(order_id, kit.unique("PAY"), "PAYMENT_CAPTURED", "1000.00")
    )
    deployment.wait_for_status(certificate_id, "ISSUED")
    deployment.settle()
    *_, issued = deployment.check_stream(
        certificate_id, ["RESERVED", "RESERVATION_RELEASED", "ISSUED"]
    )
    assert (issued["state"], issued["remainingBalance"]) == ("ACTIVE", "1000.00")
