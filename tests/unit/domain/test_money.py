"""Money: exact decimal amounts of one ISO 4217 currency."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gcp_domain import DomainError, Money
from gcp_domain.errors import InvalidMoney


def test_money_keeps_the_exact_decimal_amount() -> None:
    assert Money.of("0.10").amount + Money.of("0.20").amount == Decimal("0.30")
    assert (Money.of("0.10") + Money.of("0.20")).amount == Decimal("0.30")


def test_money_defaults_to_rubles() -> None:
    assert Money.of("1").currency == "RUB"


@pytest.mark.parametrize("value", ["5000", "5000.00", 5000, Decimal("5000"), "5e3"])
def test_money_reads_strings_ints_and_decimals_exactly(value: object) -> None:
    assert Money.of(value) == Money(Decimal("5000.00"), "RUB")


@pytest.mark.parametrize("value", [10.5, 0.1, float("nan")])
def test_money_refuses_a_float(value: float) -> None:
    with pytest.raises(InvalidMoney):
        Money.of(value)


@pytest.mark.parametrize("value", [True, False])
def test_money_refuses_a_bool(value: bool) -> None:
    with pytest.raises(InvalidMoney):
        Money.of(value)


def test_the_constructor_refuses_a_float_too() -> None:
    with pytest.raises(InvalidMoney):
        Money(10.5, "RUB")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["-0.01", "-5000", Decimal("-1")])
def test_money_refuses_a_negative_amount(value: object) -> None:
    with pytest.raises(InvalidMoney):
        Money.of(value)


@pytest.mark.parametrize("value", ["abc", "", "1.2.3", "NaN", "Infinity", "-inf", None, [1]])
def test_money_refuses_what_is_not_a_finite_decimal_number(value: object) -> None:
    with pytest.raises(InvalidMoney):
        Money.of(value)


def test_money_refuses_an_amount_too_large_to_quantize_as_invalid_money() -> None:
    with pytest.raises(InvalidMoney):
        Money.of("1e30")


def test_negative_zero_is_plain_zero() -> None:
    assert str(Money.of("-0")) == "0.00"
    assert Money.of("-0.00").is_zero


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("10.005", "RUB"), ("0.001", "EUR"), ("100.5", "JPY"), ("1.2345", "KWD")],
)
def test_money_refuses_more_minor_digits_than_the_currency_has(amount: str, currency: str) -> None:
    with pytest.raises(InvalidMoney, match="minor digits"):
        Money.of(amount, currency)


def test_trailing_zeros_are_not_extra_minor_digits() -> None:
    assert str(Money.of("10.000000", "RUB")) == "10.00"
    assert str(Money.of("100.0", "JPY")) == "100"


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        ("5000", "RUB", "5000.00"),
        ("1500.5", "RUB", "1500.50"),
        ("0", "RUB", "0.00"),
        ("5000", "JPY", "5000"),
        ("1.5", "KWD", "1.500"),
        ("1E+3", "USD", "1000.00"),
    ],
)
def test_str_gives_the_contract_form_with_the_currency_minor_digits(
    amount: str, currency: str, text: str
) -> None:
    assert str(Money.of(amount, currency)) == text


@pytest.mark.parametrize(
    ("currency", "unit"),
    [("RUB", "0.01"), ("EUR", "0.01"), ("JPY", "1"), ("KWD", "0.001"), ("BHD", "0.001")],
)
def test_minor_unit_is_the_smallest_positive_amount_of_the_currency(
    currency: str, unit: str
) -> None:
    minor = Money.of("7", currency).minor_unit
    assert minor == Money(Decimal(unit), currency)
    assert minor.currency == currency


@pytest.mark.parametrize("currency", ["rub", "RU", "RUBL", "R1B", "", "РУБ", 643, None])
def test_currency_must_be_three_uppercase_latin_letters(currency: object) -> None:
    with pytest.raises(InvalidMoney, match="ISO 4217"):
        Money.of("1", currency)  # type: ignore[arg-type]


def test_addition_and_subtraction_stay_in_the_currency() -> None:
    assert Money.of("5000") - Money.of("1500.50") == Money.of("3499.50")
    assert Money.of("1", "KWD") + Money.of("0.001", "KWD") == Money.of("1.001", "KWD")


def test_subtraction_below_zero_is_refused() -> None:
    with pytest.raises(InvalidMoney):
        Money.of("1") - Money.of("1.01")


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
    ids=["add", "sub", "lt", "le", "gt", "ge"],
)
def test_arithmetic_and_comparison_refuse_mixed_currencies(operation: object) -> None:
    with pytest.raises(InvalidMoney, match="currency mismatch"):
        operation(Money.of("10", "RUB"), Money.of("1", "USD"))  # type: ignore[operator]


def test_comparisons_order_amounts_of_one_currency() -> None:
    small, large = Money.of("1.00"), Money.of("1.01")
    assert small < large
    assert small <= large
    assert large > small
    assert large >= small
    assert small <= Money.of("1")
    assert not small < Money.of("1")


def test_equal_amounts_in_different_currencies_are_not_equal_money() -> None:
    assert Money.of("1", "RUB") != Money.of("1", "USD")


def test_zero_is_zero_of_the_currency() -> None:
    zero = Money.zero("JPY")
    assert zero.is_zero
    assert str(zero) == "0"
    assert not Money.of("0.01").is_zero


def test_money_is_immutable() -> None:
    money = Money.of("1")
    with pytest.raises(AttributeError):
        money.amount = Decimal(2)  # type: ignore[misc]


def test_invalid_money_is_a_domain_error_with_a_stable_code() -> None:
    with pytest.raises(DomainError) as raised:
        Money.of("-1")
    assert raised.value.code == "invalid-money"


@pytest.mark.parametrize(
    "text",
    ["1_000", "\uff15\uff10", " 5000.0 ", "+5", "5.", ".5", "0x10", "12 34", "", "NaN", "Infinity"],
)
def test_amount_text_follows_the_json_number_grammar_in_ascii(text: str) -> None:
    with pytest.raises(InvalidMoney):
        Money.of(text)
