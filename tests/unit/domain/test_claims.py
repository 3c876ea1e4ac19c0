"""Uniqueness claims: their ids derive from the claimed value, so a second claim collides."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from gcp_domain import Cause, NumberClaim, ReservationKey
from gcp_domain.claims import number_claim_id, reservation_key_id
from gcp_domain.pool import pool_id


def test_a_number_claims_id_derives_from_the_number(cause: Cause) -> None:
    certificate_id = uuid4()
    claim = NumberClaim(number="4539578763621486", certificate_id=certificate_id, cause=cause)
    assert claim.id == NumberClaim.create_id("4539578763621486")
    assert claim.id == number_claim_id("4539578763621486")
    assert claim.certificate_id == certificate_id
    assert claim.version == 1


def test_two_claims_of_one_number_have_the_same_id(cause: Cause) -> None:
    first = NumberClaim(number="4539578763621486", certificate_id=uuid4(), cause=cause)
    second = NumberClaim(number="4539578763621486", certificate_id=uuid4(), cause=cause)
    assert first.id == second.id
    assert first.version == second.version == 1  # the store's (id, version) refuses the second


def test_different_numbers_claim_different_ids() -> None:
    assert number_claim_id("4539578763621486") != number_claim_id("4111111111111111")


def test_a_reservation_keys_id_derives_from_owner_and_key(cause: Cause) -> None:
    certificate_id = uuid4()
    until = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)
    claim = ReservationKey(
        owner="channel:web",
        key="idem-1",
        certificate_id=certificate_id,
        pool="default",
        reserved_until=until,
        cause=cause,
    )
    assert claim.id == ReservationKey.create_id("channel:web", "idem-1")
    assert claim.id == reservation_key_id("channel:web", "idem-1")
    assert claim.certificate_id == certificate_id
    assert claim.pool == "default"
    assert claim.reserved_until == until


def test_the_same_key_of_two_owners_gives_two_reservations() -> None:
    assert reservation_key_id("channel:web", "idem-1") != reservation_key_id(
        "channel:pos", "idem-1"
    )


def test_owner_and_key_do_not_run_together() -> None:
    assert reservation_key_id("ab", "c") != reservation_key_id("a", "bc")


def test_claim_namespaces_are_distinct() -> None:
    value = "4539578763621486"
    ids = {number_claim_id(value), reservation_key_id(value, ""), pool_id(value)}
    assert len(ids) == 3


def test_claim_events_carry_their_cause(cause: Cause) -> None:
    claim = NumberClaim(number="4539578763621486", certificate_id=uuid4(), cause=cause)
    [created] = claim.collect_events()
    assert created.cause == cause
    assert created.number == "4539578763621486"
