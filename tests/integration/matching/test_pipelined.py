"""Pipelined batches at the matcher: batch N+1 is decided while N is being stored (on N's
copies, pinned until N is stored), and a failed store of N voids what was decided on it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from gcp_app.inbound import Envelope, InboundBatches, Outcome
from gcp_app.inbound import builders as build
from gcp_domain import CertificateState

A = Outcome.APPLIED


def order(gcp: Any, order_id: str, number: str, amount: str) -> Envelope:
    envelope: Envelope = gcp.envelopes(
        build.order(order_id, redemptions=[build.redemption_line(number, amount)])
    )
    return envelope


def payment(gcp: Any, order_id: str, number: str, amount: str) -> Envelope:
    envelope: Envelope = gcp.envelopes(
        build.redemption_payment(order_id, f"PAY-{order_id}", number, amount)
    )
    return envelope


def test_the_next_batch_is_decided_on_the_copies_in_flight_whatever_the_cache_size(
    gcp: Any,
) -> None:
    sold, _ = gcp.sell("5000.00")
    matcher = InboundBatches(gcp.app, cache_size=0)  # nothing is kept between batches but the pins
    first = [order(gcp, "POS-1", sold.number, "1000.00")]
    second = [
        payment(gcp, "POS-1", sold.number, "1000.00"),
        order(gcp, "POS-2", sold.number, "500.00"),
        payment(gcp, "POS-2", sold.number, "500.00"),
    ]

    decided = matcher.decide(first)  # creates order POS-1: in memory only, until stored
    on_top = matcher.decide(second)  # POS-1's payment needs that order, and the certificate

    assert [h.outcome for h in on_top.handled] == [A, A, A]
    for batch in (decided, on_top):  # stored in order, as the consumer's writer does
        matcher.store(batch)
        matcher.stored(batch)
    certificate = gcp.certificate(sold.certificate_id)
    assert certificate.balance == Decimal("3500.00")
    assert gcp.handle([*first, *second]) == [Outcome.ALREADY_CONSUMED] * 4

    # Unpinned once stored: with a cache of 0, a later batch reads the store again.
    third = [order(gcp, "POS-3", sold.number, "100.00")]
    third.append(payment(gcp, "POS-3", sold.number, "100.00"))
    later = matcher.decide(third)
    matcher.store(later)
    matcher.stored(later)
    assert gcp.certificate(sold.certificate_id).balance == Decimal("3400.00")


def test_a_store_that_meets_a_rival_voids_the_batch_decided_on_it(gcp: Any) -> None:
    sold, _ = gcp.sell("5000.00")
    cid = sold.certificate_id
    matcher = InboundBatches(gcp.app)
    first = [
        order(gcp, "POS-1", sold.number, "1000.00"),
        payment(gcp, "POS-1", sold.number, "1000.00"),
    ]
    second = [
        order(gcp, "POS-2", sold.number, "500.00"),
        payment(gcp, "POS-2", sold.number, "500.00"),
    ]
    decided = matcher.decide(first)
    matcher.decide(second)  # redeems on top of the first batch's redemption

    gcp.lock(cid)
    with pytest.raises(IntegrityError):
        matcher.store(decided)
    matcher.reset()  # what the consumer does: then both batches through `handle`, in order

    assert [h.outcome for h in matcher.handle(first)] == [A, A]
    assert [h.outcome for h in matcher.handle(second)] == [A, A]
    certificate = gcp.certificate(cid)
    assert certificate.state is CertificateState.LOCKED
    assert certificate.balance == Decimal("5000.00")  # both refused on the lock, none applied
    assert gcp.handle([*first, *second]) == [Outcome.ALREADY_CONSUMED] * 4
