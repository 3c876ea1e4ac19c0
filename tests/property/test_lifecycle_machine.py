"""The lifecycle harness run as a test: the plain machine, and one that validates every stream
object it produces against docs/contracts/gift-certificate.schema.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from tests.schemas import format_checker

from gcp_domain import CertificateNumber, GiftCertificate, NotificationChannel, publication
from gcp_domain.testing import GiftCertificateMachine

SCHEMA_PATH = Path(__file__).parents[2] / "docs" / "contracts" / "gift-certificate.schema.json"


VALIDATOR = Draft202012Validator(
    json.loads(SCHEMA_PATH.read_text(encoding="utf-8")), format_checker=format_checker()
)


class SchemaCheckingMachine(GiftCertificateMachine):
    """Every object the state machine publishes validates against the stream's JSON Schema."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[dict[str, Any]] = []

    def on_event(self, certificate: GiftCertificate, event: Any) -> None:
        super().on_event(certificate, event)
        published = publication(certificate, event)
        if published is None:
            return
        # Through JSON and back: what a consumer actually receives.
        value = json.loads(json.dumps(published.value))
        errors = [
            f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
            for error in VALIDATOR.iter_errors(value)
        ]
        assert not errors, f"{published.status} does not validate:\n" + "\n".join(errors)
        self.published.append(value)


# Settings come from the loaded hypothesis profile (tests/conftest.py: "ci" runs 200 examples).
TestGiftCertificateLifecycle = GiftCertificateMachine.TestCase
TestStreamObjectsValidateAgainstTheSchema = SchemaCheckingMachine.TestCase


def test_the_profile_drives_the_machines() -> None:
    current = settings.default
    assert current is not None
    for machine in (GiftCertificateMachine, SchemaCheckingMachine):
        assert machine.TestCase.settings.max_examples == current.max_examples
        assert machine.TestCase.settings.stateful_step_count == current.stateful_step_count


# Scripted runs of the machine: sequences the random search reaches only rarely, kept as
# regressions. Each step is a rule of the machine, and every invariant is checked after it.


def run_script(data: st.DataObject, *, issued: bool, steps: list[str]) -> GiftCertificateMachine:
    machine = SchemaCheckingMachine()
    machine.create_certificate(
        number=CertificateNumber.from_body("400012341234482"),
        currency="RUB",
        data=data,
        issue_first=1 if issued else 0,
        channel=NotificationChannel.EMAIL,
    )
    machine.check_all_invariants()
    for step in steps:
        name, _, arguments = step.partition(" ")
        keywords = dict(pair.split("=") for pair in arguments.split())
        getattr(machine, name)(**{k: _value(v) for k, v in keywords.items()})
        machine.check_all_invariants()
    machine.teardown()
    return machine


def _value(text: str) -> int | str | None:
    """A script's keyword value: a whole number, None, or the text itself."""
    if text == "None":
        return None
    return int(text) if text.isdigit() else text


@settings(max_examples=1, database=None)
@given(st.data())
def test_a_refund_with_an_amount_on_an_unissued_certificate_is_refused(
    data: st.DataObject,
) -> None:
    """Used to raise AssertionError (not a DomainError) from GiftCertificate._refund_amount."""
    machine = run_script(data, issued=False, steps=["refund_pending which=current percent=50"])
    assert machine.refused["transition-not-allowed"] == 1


@settings(max_examples=1, database=None)
@given(st.data())
def test_a_new_refund_needing_details_does_not_inherit_a_failed_refund_s_amount(
    data: st.DataObject,
) -> None:
    """Used to carry the failed refund's amount into the new refund (PENDING_DETAILS)."""
    machine = run_script(
        data,
        issued=True,
        steps=[
            "refund_pending which=current percent=50",
            "refund_failed which=current percent=None",
            "refund_pending_details which=new percent=None",
        ],
    )
    refund = machine.certificate.refund
    assert refund is not None
    assert refund.amount is None
    assert machine.published[-1]["refund"]["amount"] is None
