"""Where the domain does not do what the written rules say (`gcp_domain.testing.Divergence`).

Each divergence is reported and awaits a decision. The harness's machine tolerates them
(`KNOWN_DIVERGENCES`); here each one's scenario runs twice, step by step with every invariant:
on that machine it passes, on `WrittenRulesMachine` (no tolerance: the contract and the
documented decisions alone) it fails. The second is a strict xfail, so when the domain or the
documents change and a scenario passes under the written rules, this test fails: then take the
divergence out of `KNOWN_DIVERGENCES` (and out of `SCENARIOS`).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from gcp_domain import CertificateNumber, GiftCertificate, NotificationChannel
from gcp_domain.testing import KNOWN_DIVERGENCES, Divergence, GiftCertificateMachine


class WrittenRulesMachine(GiftCertificateMachine):
    """The machine with no divergence tolerated."""

    tolerated_divergences = frozenset()


Scenario = Callable[[GiftCertificateMachine, st.DataObject], None]


def _locked_past_expiry(machine: GiftCertificateMachine, data: st.DataObject) -> None:
    """Locked while ACTIVE, then past expiresAt, before the expiry timer has run: the domain
    rejects the redemption as LOCKED; decision 5 says EXPIRED."""
    machine.lock(reason="fraud check")
    machine.check_all_invariants()
    machine.jump_clock(days=400, chance=1)
    machine.redeem(percent=10, foreign=1)


def _none_channel_request(machine: GiftCertificateMachine, data: st.DataObject) -> None:
    """Issued with channel NONE: a request naming EMAIL is recorded; decision 9 says a
    certificate issued with NONE gets no request."""
    machine.request_notification(current=False, channel=NotificationChannel.EMAIL)


def _earlier_notification_reopened(machine: GiftCertificateMachine, data: st.DataObject) -> None:
    """NOTE-1's CVC is disclosed and its delivery SENT; NOTE-2 follows and is SENT. A late
    NOTE-1 request opens NOTE-1 again, and its CVC is disclosed a second time."""
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
    assert disclosed.count("NOTE-1") == 2, disclosed


SCENARIOS: dict[Divergence, tuple[NotificationChannel, Scenario]] = {
    Divergence.LOCKED_PAST_EXPIRY: (NotificationChannel.EMAIL, _locked_past_expiry),
    Divergence.NONE_CHANNEL_REQUEST: (NotificationChannel.NONE, _none_channel_request),
    Divergence.EARLIER_NOTIFICATION_REOPENED: (
        NotificationChannel.EMAIL,
        _earlier_notification_reopened,
    ),
}


def run(
    machine: GiftCertificateMachine, divergence: Divergence, data: st.DataObject
) -> GiftCertificateMachine:
    channel, scenario = SCENARIOS[divergence]
    machine.create_certificate(
        number=CertificateNumber.from_body("400012341234482"),
        currency="RUB",
        data=data,
        issue_first=1,
        channel=channel,
    )
    machine.check_all_invariants()
    scenario(machine, data)
    machine.check_all_invariants()
    machine.teardown()
    return machine


def test_every_known_divergence_has_a_scenario() -> None:
    assert frozenset(SCENARIOS) == KNOWN_DIVERGENCES
    assert GiftCertificateMachine.tolerated_divergences == KNOWN_DIVERGENCES


@pytest.mark.parametrize("divergence", list(Divergence), ids=lambda d: d.name)
@settings(max_examples=1, database=None)
@given(data=st.data())
def test_the_harness_tolerates_the_divergence(divergence: Divergence, data: st.DataObject) -> None:
    run(GiftCertificateMachine(), divergence, data)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="reported; awaits a decision")
@pytest.mark.parametrize("divergence", list(Divergence), ids=lambda d: d.name)
@settings(max_examples=1, database=None, phases=[Phase.generate])  # a script: nothing to shrink
@given(data=st.data())
def test_the_domain_breaks_the_written_rule(divergence: Divergence, data: st.DataObject) -> None:
    run(WrittenRulesMachine(), divergence, data)
