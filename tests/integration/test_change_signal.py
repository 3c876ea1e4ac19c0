"""The relay's wake-up: what this process records wakes it at once, whatever the store (on
SQLite it used to wait for its next poll)."""

from __future__ import annotations

from collections.abc import Callable

from gcp_app.application import GiftCertificates
from gcp_app.change_signal import change_signal
from gcp_domain import Cause

ADMIN = Cause("test:admin", "setup", "setup")


def test_this_processs_own_recordings_wake_the_relay(app: GiftCertificates) -> None:
    with change_signal(app.store) as woken:
        woken.wait(2)  # a store that listens says so once it does
        woken.clear()
        app.pools.generate_certificates("default", 1, cause=ADMIN)
        assert woken.wait(2)


def test_after_the_signal_ends_recording_calls_nobody(
    app: GiftCertificates, make_app: Callable[[], GiftCertificates]
) -> None:
    with change_signal(app.store) as woken:
        pass
    woken.clear()
    app.pools.generate_certificates("default", 1, cause=ADMIN)
    assert not woken.is_set()
    assert app.store._recorded_listeners == []
