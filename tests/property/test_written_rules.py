"""Three places where the harness's model (the written rules) once disagreed with the domain,
each kept as a scenario that runs step by step with every invariant: a redemption of a
certificate locked over ACTIVE past expiresAt (EXPIRED, decision 5), a request naming a channel
for a certificate issued with NONE (refused, decision 9), and a late redelivery of an earlier
notification request (records nothing, so its CVC is not handed out again: decision 9). The
random runs reach these rarely; here they run every time.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from gcp_domain import CertificateNumber, GiftCertificate, NotificationChannel
from gcp_domain.testing import GiftCertificateMachine

Scenario = Callable[[GiftCertificateMachine, st.DataObject], None]


def _locked_past_expiry(machine: GiftCertificateMachine, data: st.DataObject) -> None:
    """Locked while ACTIVE, then past expiresAt, before the expiry timer has run: EXPIRED
    (decision 5), since the timer would expire it and unlocking cannot help."""
    machine.lock(reason="fraud check")
    machine.check_all_invariants()
    machine.jump_clock(days=400, chance=1)
    machine.redeem(percent=10, foreign=1)


def _none_channel_request(machine: GiftCertificateMachine, data: st.DataObject) -> None:
    """Issued with channel NONE: a request naming EMAIL is refused (decision 9: a certificate
    issued with NONE gets no request)."""
    machine.request_notification(current=False, channel=NotificationChannel.EMAIL)


def _earlier_notification_reopened(machine: GiftCertificateMachine, data: st.DataObject) -> None:
    """NOTE-1's CVC is disclosed and its delivery SENT; NOTE-2 follows and is SENT. A late
    NOTE-1 request records nothing, and NOTE-1's CVC is not disclosed a second time."""
    machine.disclose_cvc(current=True)
    machine.request_again_after_the_result(sent=True)
    machine.notification_result(current=True, sent=True)
    machine.check_all_invariants()
    machine.request_an_earlier_notification(data)
    machine.check_all_invariants()
    machine.disclose_cvc(current=True)
    disclosed = [
        e.notification_id for e in machine.recorded if isinstance(e, GiftCertificate.CvcDisclosed)
    ]
    assert disclosed.count("NOTE-1") == 1, disclosed


SCENARIOS: dict[str, tuple[NotificationChannel, Scenario]] = {
    "locked past expiry": (NotificationChannel.EMAIL, _locked_past_expiry),
    "a request for a NONE certificate": (NotificationChannel.NONE, _none_channel_request),
    "an earlier notification request redelivered": (
        NotificationChannel.EMAIL,
        _earlier_notification_reopened,
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@settings(max_examples=1, database=None, phases=[Phase.generate])  # a script: nothing to shrink
@given(data=st.data())
def test_the_domain_keeps_the_written_rule(scenario: str, data: st.DataObject) -> None:
    channel, steps = SCENARIOS[scenario]
    machine = GiftCertificateMachine()
    machine.create_certificate(
        number=CertificateNumber.from_body("400012341234482"),
        currency="RUB",
        data=data,
        issue_first=1,
        channel=channel,
    )
    machine.check_all_invariants()
    steps(machine, data)
    machine.check_all_invariants()
    machine.teardown()
