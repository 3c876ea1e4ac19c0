"""The printed number: 16 digits with a Luhn check digit."""

from __future__ import annotations

import pytest

from gcp_domain import CertificateNumber
from gcp_domain.errors import InvalidCertificateNumber
from gcp_domain.numbers import luhn_check_digit, luhn_valid, mask

# Well-known Luhn-valid 16-digit numbers (card-network test numbers).
LUHN_VALID = ["4539578763621486", "4111111111111111", "5555555555554444", "4012888888881881"]


def test_the_luhn_check_digit_of_the_classic_example_is_3() -> None:
    assert luhn_check_digit("7992739871") == "3"
    assert luhn_valid("79927398713")


@pytest.mark.parametrize("wrong", ["79927398710", "79927398714", "79927398719"])
def test_luhn_rejects_the_classic_example_with_another_check_digit(wrong: str) -> None:
    assert not luhn_valid(wrong)


@pytest.mark.parametrize("number", LUHN_VALID)
def test_known_luhn_valid_numbers_are_certificate_numbers(number: str) -> None:
    assert CertificateNumber(number).value == number
    assert luhn_check_digit(number[:-1]) == number[-1]


@pytest.mark.parametrize("number", LUHN_VALID)
def test_from_body_completes_fifteen_digits_with_their_check_digit(number: str) -> None:
    assert CertificateNumber.from_body(number[:-1]) == CertificateNumber(number)


def test_a_body_whose_digit_sum_is_already_a_multiple_of_ten_gets_check_digit_0() -> None:
    number = CertificateNumber.from_body("000000000000000")
    assert number.value == "0000000000000000"


@pytest.mark.parametrize("body", ["45395787636214", "4539578763621486", "45395787636214a", ""])
def test_from_body_refuses_anything_but_fifteen_digits(body: str) -> None:
    with pytest.raises(InvalidCertificateNumber):
        CertificateNumber.from_body(body)


@pytest.mark.parametrize(
    "printed",
    ["4539 5787 6362 1486", "4539-5787-6362-1486", " 4539578763621486 ", "4539 - 5787 6362-1486"],
)
def test_parse_accepts_the_printed_form_with_spaces_or_dashes(printed: str) -> None:
    assert CertificateNumber.parse(printed) == CertificateNumber("4539578763621486")


def test_parse_still_checks_the_check_digit() -> None:
    with pytest.raises(InvalidCertificateNumber, match="check digit"):
        CertificateNumber.parse("4539 5787 6362 1487")


@pytest.mark.parametrize(
    "value",
    [
        "453957876362148",  # 15 digits
        "45395787636214860",  # 17 digits
        "",
        "4539x78763621486",
        "4539 5787 6362 1486",  # the constructor takes digits only; parse() strips separators
        "".join(chr(0xFF10 + int(d)) for d in "4539578763621486"),  # full-width digits
        4539578763621486,
    ],
)
def test_a_number_needs_exactly_sixteen_ascii_digits(value: object) -> None:
    with pytest.raises(InvalidCertificateNumber, match="16 digits"):
        CertificateNumber(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("wrong_digit", "0123456789".replace("6", ""))
def test_a_number_with_a_wrong_check_digit_is_refused(wrong_digit: str) -> None:
    with pytest.raises(InvalidCertificateNumber, match="check digit"):
        CertificateNumber("453957876362148" + wrong_digit)


def test_swapping_two_adjacent_digits_breaks_the_check_digit() -> None:
    with pytest.raises(InvalidCertificateNumber):
        CertificateNumber("5439578763621486")


def test_the_masked_form_shows_only_the_last_four_digits() -> None:
    assert CertificateNumber("4539578763621486").masked == "**** **** **** 1486"
    assert mask("4111111111114821") == "**** **** **** 4821"


def test_str_is_the_sixteen_digits() -> None:
    assert str(CertificateNumber.parse("4539 5787 6362 1486")) == "4539578763621486"


def test_an_invalid_number_error_does_not_echo_the_number() -> None:
    with pytest.raises(InvalidCertificateNumber) as raised:
        CertificateNumber("4539578763621487")
    assert "4539578763621487" not in str(raised.value)
    assert raised.value.code == "invalid-certificate-number"
