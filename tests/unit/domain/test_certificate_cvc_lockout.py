"""CvcLockedOut: the certificate's record of a CVC lock-out (the throttling is the app's)."""

from __future__ import annotations

import pytest
from tests.unit.domain.conftest import Recorded

from gcp_domain import Cause, GiftCertificate
from gcp_domain.errors import InvalidCommand
from gcp_domain.stream import certificate_status, publication


def test_the_lockout_event_has_a_stable_topic() -> None:
    assert GiftCertificate.CvcLockedOut.TOPIC == "gcp:GiftCertificate.CvcLockedOut"


@pytest.mark.parametrize("state", ["available", "active", "locked", "redeemed", "expired"])
def test_a_lockout_is_recorded_in_any_state(
    state: str, make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.in_state(state)
    before = (cert.state, cert.notification, cert.balance, cert.lock)
    cert.record_cvc_lockout(attempts=5, window_seconds=900, cause=cause)

    [event] = cert.collect_events()
    assert isinstance(event, GiftCertificate.CvcLockedOut)
    assert (event.attempts, event.window_seconds, event.cause) == (5, 900, cause)
    assert cert.cvc_lockouts == 1
    assert cert.last_cause == cause
    # Nothing else about the certificate changes.
    assert (cert.state, cert.notification, cert.balance, cert.lock) == before


def test_a_lockout_is_recorded_not_published(make, cause: Cause) -> None:
    cert = make.active()
    cert.record_cvc_lockout(attempts=5, window_seconds=900, cause=cause)
    [event] = cert.collect_events()
    assert certificate_status(cert, event) is None
    assert publication(cert, event) is None


@pytest.mark.parametrize(("attempts", "window"), [(0, 900), (5, 0), (-1, -1)])
def test_a_lockout_needs_attempts_and_a_window(
    attempts: int, window: int, make, cause: Cause, recorded: Recorded
) -> None:
    cert = make.active()
    with pytest.raises(InvalidCommand):
        cert.record_cvc_lockout(attempts=attempts, window_seconds=window, cause=cause)
    assert recorded(cert) == []
