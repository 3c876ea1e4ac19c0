"""The printed certificate number: 16 digits, the last a Luhn check digit."""

from __future__ import annotations

from typing import Final

import attrs

from gcp_domain.errors import InvalidCertificateNumber

LENGTH: Final = 16


def luhn_check_digit(body: str) -> str:
    """The digit that makes `body + digit` pass the Luhn check."""
    total = 0
    # From the right, every second digit of the body (starting with the last) is doubled.
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def luhn_valid(digits: str) -> bool:
    return luhn_check_digit(digits[:-1]) == digits[-1]


@attrs.frozen
class CertificateNumber:
    value: str

    def __attrs_post_init__(self) -> None:
        v = self.value
        if not (isinstance(v, str) and len(v) == LENGTH and v.isascii() and v.isdigit()):
            raise InvalidCertificateNumber(f"a certificate number has {LENGTH} digits")
        if not luhn_valid(v):
            raise InvalidCertificateNumber("the certificate number's check digit is wrong")

    @classmethod
    def from_body(cls, body: str) -> CertificateNumber:
        """Completes 15 digits (from a CSPRNG, say) with their check digit."""
        if not (len(body) == LENGTH - 1 and body.isascii() and body.isdigit()):
            raise InvalidCertificateNumber(f"a number body has {LENGTH - 1} digits")
        return cls(body + luhn_check_digit(body))

    @classmethod
    def parse(cls, text: str) -> CertificateNumber:
        """Accepts the printed form with spaces or dashes ("1234 5678 ...")."""
        return cls(text.replace(" ", "").replace("-", ""))

    @property
    def masked(self) -> str:
        return mask(self.value)

    def __str__(self) -> str:
        return self.value


def mask(number: str) -> str:
    """`**** **** **** 4821`: what logs and receipts may show."""
    return f"**** **** **** {number[-4:]}"
