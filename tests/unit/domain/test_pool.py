"""CertificatePool: its id from its name, ISSUE_BLOCKED once per shortage, its low watermark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gcp_domain import Cause, CertificatePool
from gcp_domain.errors import InvalidCommand
from gcp_domain.pool import BLOCKED_REPUBLISH_AFTER, DEFAULT_LOW_WATERMARK, pool_id

AT = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def new_pool(cause: Cause, name: str = "default", **kwargs: int) -> CertificatePool:
    pool = CertificatePool.create(name=name, cause=cause, **kwargs)
    pool.collect_events()
    return pool


def event_types(pool: CertificatePool) -> list[type]:
    return [type(e) for e in pool.collect_events()]


def test_a_pools_id_derives_from_its_name(cause: Cause) -> None:
    pool = CertificatePool.create(name="default", cause=cause)
    assert pool.id == CertificatePool.create_id("default") == pool_id("default")
    assert CertificatePool.create(name="default", cause=cause).id == pool.id


def test_different_names_give_different_ids() -> None:
    assert CertificatePool.create_id("default") != CertificatePool.create_id("Default")
    assert CertificatePool.create_id("a") != CertificatePool.create_id("b")


def test_a_new_pool_records_its_name_and_default_watermark(cause: Cause) -> None:
    pool = CertificatePool.create(name="spring-2027", cause=cause)
    assert pool.name == "spring-2027"
    assert pool.low_watermark == DEFAULT_LOW_WATERMARK
    assert pool.blocked_at is None
    assert pool.total_added == 0
    [created] = pool.collect_events()
    assert isinstance(created, CertificatePool.Created)
    assert created.cause == cause


@pytest.mark.parametrize("name", ["default", "web.shop_1-a", "x", "a" * 64, "POS"])
def test_good_pool_names(name: str, cause: Cause) -> None:
    assert CertificatePool.create(name=name, cause=cause).name == name


@pytest.mark.parametrize("name", ["", "a" * 65, "two words", "a/b", "pool?", "x\n"])
def test_bad_pool_names_are_refused(name: str, cause: Cause) -> None:
    with pytest.raises(InvalidCommand):
        CertificatePool.create(name=name, cause=cause)


def test_a_negative_low_watermark_is_refused_at_creation(cause: Cause) -> None:
    with pytest.raises(InvalidCommand):
        CertificatePool.create(name="default", low_watermark=-1, cause=cause)


def test_exhaustion_is_reported_once_per_shortage(cause: Cause) -> None:
    pool = new_pool(cause)
    assert pool.report_exhausted(at=AT, cause=cause) is True
    assert pool.blocked_at == AT
    assert pool.report_exhausted(at=AT + timedelta(seconds=1), cause=cause) is False
    almost = AT + BLOCKED_REPUBLISH_AFTER - timedelta(microseconds=1)
    assert pool.report_exhausted(at=almost, cause=cause) is False
    events = pool.collect_events()
    assert [type(e) for e in events] == [CertificatePool.IssueBlocked]
    assert events[0].reason == "POOL_EXHAUSTED"
    assert events[0].blocked_at == AT
    assert events[0].cause == cause


def test_a_lasting_shortage_is_reported_again_after_the_republish_interval(
    cause: Cause,
) -> None:
    pool = new_pool(cause)
    pool.report_exhausted(at=AT, cause=cause)
    later = AT + BLOCKED_REPUBLISH_AFTER
    assert pool.report_exhausted(at=later, cause=cause) is True
    assert pool.blocked_at == later
    assert pool.report_exhausted(at=later + timedelta(seconds=5), cause=cause) is False
    assert event_types(pool) == [CertificatePool.IssueBlocked, CertificatePool.IssueBlocked]


def test_adding_certificates_ends_the_shortage(cause: Cause) -> None:
    pool = new_pool(cause)
    pool.report_exhausted(at=AT, cause=cause)
    pool.record_added(count=1000, source="generate", cause=cause)
    assert pool.blocked_at is None
    assert pool.total_added == 1000
    assert pool.report_exhausted(at=AT + timedelta(seconds=1), cause=cause) is True
    assert event_types(pool) == [
        CertificatePool.IssueBlocked,
        CertificatePool.CertificatesAdded,
        CertificatePool.IssueBlocked,
    ]


def test_added_counts_accumulate(cause: Cause) -> None:
    pool = new_pool(cause)
    pool.record_added(count=10, source="generate", cause=cause)
    pool.record_added(count=5, source="import:vendor.csv", cause=cause)
    assert pool.total_added == 15
    events = pool.collect_events()
    assert [e.source for e in events] == ["generate", "import:vendor.csv"]
    assert all(e.cause == cause for e in events)


@pytest.mark.parametrize("count", [0, -1])
def test_a_pool_grows_by_a_positive_count(count: int, cause: Cause) -> None:
    pool = new_pool(cause)
    with pytest.raises(InvalidCommand):
        pool.record_added(count=count, source="generate", cause=cause)
    assert pool.collect_events() == []
    assert pool.total_added == 0


def test_the_low_watermark_changes(cause: Cause) -> None:
    pool = new_pool(cause)
    assert pool.set_low_watermark(low_watermark=0, cause=cause) is True
    assert pool.low_watermark == 0
    [changed] = pool.collect_events()
    assert isinstance(changed, CertificatePool.LowWatermarkChanged)
    assert changed.cause == cause


def test_setting_the_same_low_watermark_records_nothing(cause: Cause) -> None:
    pool = new_pool(cause, low_watermark=50)
    version = pool.version
    assert pool.set_low_watermark(low_watermark=50, cause=cause) is False
    assert pool.collect_events() == []
    assert pool.version == version


def test_a_negative_low_watermark_is_refused(cause: Cause) -> None:
    pool = new_pool(cause)
    with pytest.raises(InvalidCommand):
        pool.set_low_watermark(low_watermark=-5, cause=cause)
    assert pool.collect_events() == []
    assert pool.low_watermark == DEFAULT_LOW_WATERMARK


def test_a_replayed_pool_equals_the_live_one(cause: Cause) -> None:
    pool = CertificatePool.create(name="default", low_watermark=10, cause=cause)
    pool.record_added(count=3, source="generate", cause=cause)
    pool.report_exhausted(at=AT, cause=cause)
    pool.set_low_watermark(low_watermark=20, cause=cause)
    replayed = None
    for event in pool.collect_events():
        replayed = event.mutate(replayed)
    assert replayed == pool
    assert replayed.blocked_at == AT
    assert replayed.low_watermark == 20


def test_pool_low_once_per_fall_below_the_watermark_again_after_a_restock(cause: Cause) -> None:
    pool = new_pool(cause, low_watermark=10)
    assert pool.running_low is False
    assert not pool.report_low(available=10, cause=cause)  # at the watermark: not below it
    assert pool.report_low(available=9, cause=cause)
    assert not pool.report_low(available=3, cause=cause)  # the same fall: said once
    assert event_types(pool) == [CertificatePool.RanLow]
    assert not pool.report_restocked(available=9, cause=cause)  # still below
    assert pool.report_restocked(available=10, cause=cause)
    assert not pool.report_restocked(available=50, cause=cause)  # nothing ran low since
    assert event_types(pool) == [CertificatePool.Replenished]
    assert pool.report_low(available=9, cause=cause)  # a new fall is news again
    assert event_types(pool) == [CertificatePool.RanLow]


def test_a_pool_that_never_ran_low_records_no_restock(cause: Cause) -> None:
    pool = new_pool(cause, low_watermark=10)
    assert not pool.report_restocked(available=1000, cause=cause)
    assert event_types(pool) == []


def test_pool_low_is_replayed(cause: Cause) -> None:
    pool = new_pool(cause, low_watermark=10)
    pool.report_low(available=2, cause=cause)
    [ran_low] = pool.collect_events()
    assert ran_low.available == 2
    assert ran_low.low_watermark == 10
