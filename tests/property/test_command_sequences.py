"""The harness's strategies, used without the state machine."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from gcp_domain import CertificateNumber, GiftCertificate, Money
from gcp_domain.money import minor_digits
from gcp_domain.numbers import luhn_valid
from gcp_domain.testing import new_certificate, replay, run_commands, strategies
from gcp_domain.testing.commands import LifecycleCommand


@given(strategies.money(strategies.currencies()))
def test_money_has_the_currency_s_minor_digits(amount: Money) -> None:
    exponent = amount.amount.as_tuple().exponent
    assert isinstance(exponent, int)
    assert -exponent == minor_digits(amount.currency)
    assert amount.amount >= 0


@given(strategies.positive_money("JPY", max_value=10))
def test_positive_money_is_at_least_one_minor_unit(amount: Money) -> None:
    assert Decimal(1) <= amount.amount <= Decimal(10)


@given(strategies.certificate_numbers())
def test_certificate_numbers_pass_the_luhn_check(number: CertificateNumber) -> None:
    assert len(number.value) == 16
    assert luhn_valid(number.value)


@given(strategies.causes(), strategies.payment_ids(distinct=3))
def test_causes_and_payment_ids(cause: object, payment_id: str) -> None:
    assert payment_id in {"PAY-1", "PAY-2", "PAY-3"}
    assert cause is not None


@given(
    strategies.certificate_numbers(),
    strategies.command_sequences(st.sampled_from(("RUB", "JPY", "KWD"))),
)
def test_any_command_sequence_keeps_the_certificate_consistent(
    number: CertificateNumber, commands: list[LifecycleCommand]
) -> None:
    """Only DomainErrors, never another exception; a refused command records nothing; the
    balance is never negative; replaying the events gives the same certificate."""
    certificate = new_certificate(number=number)
    events = list(certificate.collect_events())
    for step in run_commands(certificate, commands):
        if step.error is not None:
            assert step.events == ()
        assert len(step.events) <= 1
        events.extend(step.events)
        assert certificate.balance >= 0
        assert certificate.version == len(events)
    replayed = replay(events)
    assert isinstance(replayed, GiftCertificate)
    assert replayed == certificate
