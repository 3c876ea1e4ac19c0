"""The batch's reads (`UnitOfWork.prefetch`): what a remembered aggregate points to is read in
the same round as it, and a remembered copy is still caught up before a decision."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from gcp_app.inbound import Outcome, work
from gcp_app.inbound import builders as build
from gcp_domain.claims import number_claim_id
from gcp_domain.numbers import CertificateNumber

A = Outcome.APPLIED


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[set[UUID]]:
    """The ids of each batch read (one entry per round trip on PostgreSQL)."""
    rounds: list[set[UUID]] = []
    original = work.select_events_of_many

    def spy(recorder: Any, wanted: Any) -> Any:
        rounds.append(set(wanted))
        return original(recorder, wanted)

    monkeypatch.setattr(work, "select_events_of_many", spy)
    return rounds


def test_remembered_references_are_read_in_the_first_round(
    gcp: Any, reads: list[set[UUID]]
) -> None:
    granted, order_id = gcp.sell("5000.00")
    reads.clear()
    # A second payment of the same order: the remembered order points to its certificate.
    assert gcp.deliver(build.payment(order_id, "PAY-2", "PAYMENT_AUTHORIZED")) == [A]
    assert len(reads) == 1
    assert granted.certificate_id in reads[0]


def test_a_remembered_claim_and_certificate_are_read_together_and_caught_up(
    gcp: Any, reads: list[set[UUID]]
) -> None:
    granted, _ = gcp.sell("5000.00")
    gcp.deliver(
        build.order("POS-1", redemptions=[build.redemption_line(granted.number, "100.00")]),
        build.redemption_payment("POS-1", "PAY-81", granted.number, "100.00"),
    )
    # Another writer changes the remembered certificate between two batches.
    gcp.lock(granted.certificate_id)
    reads.clear()
    gcp.deliver(
        build.order("POS-2", redemptions=[build.redemption_line(granted.number, "100.00")]),
        build.redemption_payment("POS-2", "PAY-82", granted.number, "100.00"),
    )
    claim_id = number_claim_id(CertificateNumber.parse(granted.number).value)
    assert len(reads) == 1
    assert {claim_id, granted.certificate_id} <= reads[0]
    # Decided on the caught-up copy: locked, so refused.
    current = gcp.object(granted.certificate_id)
    assert current["status"] == "REDEMPTION_REJECTED"
    assert current["reason"] == "LOCKED"
