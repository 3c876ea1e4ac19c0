"""The CVC failure buckets on their own: stable topics and ids, and what a key's buckets say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gcp_app.cvc_failures import CvcFailures, bucket_of, cvc_failures_id, key_state
from gcp_domain import Cause

WINDOW = timedelta(seconds=900)
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # a bucket's first second
CAUSE = Cause("http:crm", "req-1", "req-1")


def bucket(at: datetime) -> CvcFailures:
    return CvcFailures.open("certificate", "c-1", 900, bucket_of(at, 900), cause=CAUSE)


def test_stored_history_keeps_its_topics() -> None:
    assert CvcFailures.TOPIC == "gcp:CvcFailures"
    assert CvcFailures.Created.TOPIC == "gcp:CvcFailures.Created"
    assert CvcFailures.Failed.TOPIC == "gcp:CvcFailures.Failed"
    assert CvcFailures.LockedOut.TOPIC == "gcp:CvcFailures.LockedOut"
    assert CvcFailures.Superseded.TOPIC == "gcp:CvcFailures.Superseded"


def test_ids_derive_from_kind_key_window_and_bucket() -> None:
    one = cvc_failures_id("certificate", "c-1", 900, 7)
    assert one == cvc_failures_id("certificate", "c-1", 900, 7)
    others = {
        cvc_failures_id("client", "c-1", 900, 7),
        cvc_failures_id("certificate", "c-2", 900, 7),
        cvc_failures_id("certificate", "c-1", 600, 7),
        cvc_failures_id("certificate", "c-1", 900, 8),
    }
    assert one not in others
    assert len(others) == 4
    assert bucket(T0).id == cvc_failures_id("certificate", "c-1", 900, bucket_of(T0, 900))


def test_the_window_slides_over_the_buckets() -> None:
    previous, current = bucket(T0 - timedelta(seconds=1)), bucket(T0)
    previous.fail(at=T0 - timedelta(seconds=100), cause=CAUSE)
    previous.fail(at=T0 - timedelta(seconds=10), cause=CAUSE)
    current.fail(at=T0 + timedelta(seconds=5), cause=CAUSE)

    assert key_state([previous, current], T0 + timedelta(seconds=10), WINDOW).failures == 3
    # 900 s after a failure it no longer counts.
    assert key_state([previous, current], T0 + timedelta(seconds=800), WINDOW).failures == 2
    assert key_state([previous, current], T0 + timedelta(seconds=890), WINDOW).failures == 1


def test_a_lockout_holds_for_its_window_and_the_latest_one_counts() -> None:
    older, newer = bucket(T0 - timedelta(seconds=1)), bucket(T0)
    older.lock_out(at=T0 - WINDOW / 2, until=T0 + WINDOW / 2, failures=5, cause=CAUSE)
    newer.lock_out(at=T0, until=T0 + WINDOW, failures=5, cause=CAUSE)

    assert key_state([older, newer], T0, WINDOW).locked_until == T0 + WINDOW
    assert key_state([older], T0 + WINDOW / 2 - timedelta(seconds=1), WINDOW).locked_until
    assert key_state([older], T0 + WINDOW / 2, WINDOW).locked_until is None
