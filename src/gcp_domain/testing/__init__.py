"""The lifecycle harness: hypothesis strategies, a reference model of the written rules, and a
state machine for GiftCertificate.

Other teams import it (install `gcp[testing]`):

    from gcp_domain.testing import GiftCertificateMachine, strategies

    class MyMachine(GiftCertificateMachine):
        def on_event(self, certificate, event): ...

    TestMyMachine = MyMachine.TestCase

This is the one part of `gcp_domain` that imports hypothesis; nothing else imports it.
See docs/testing-harness.md.
"""

from gcp_domain.testing import commands, strategies
from gcp_domain.testing.checks import observable, replay
from gcp_domain.testing.commands import (
    CauseFactory,
    LifecycleCommand,
    SimulatedClock,
    Step,
    new_certificate,
    run_commands,
)
from gcp_domain.testing.machine import GiftCertificateMachine
from gcp_domain.testing.model import Expect, LifecycleModel

__all__ = [
    "CauseFactory",
    "Expect",
    "GiftCertificateMachine",
    "LifecycleCommand",
    "LifecycleModel",
    "SimulatedClock",
    "Step",
    "commands",
    "new_certificate",
    "observable",
    "replay",
    "run_commands",
    "strategies",
]
