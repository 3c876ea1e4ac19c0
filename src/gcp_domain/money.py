"""Exact money: a Decimal amount in one ISO 4217 currency, never negative, never a float."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Final

import attrs

from gcp_domain.errors import InvalidMoney

# Minor digits of the currencies a retailer is likely to see; others default to 2.
# Kept here (not in a locale library) so the domain stays dependency-free.
MINOR_DIGITS: Final[dict[str, int]] = {
    "BHD": 3, "CLP": 0, "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0,
    "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3, "UGX": 0, "VND": 0, "XAF": 0, "XOF": 0,
}  # fmt: skip
DEFAULT_CURRENCY: Final = "RUB"


def minor_digits(currency: str) -> int:
    return MINOR_DIGITS.get(currency, 2)


def check_currency(currency: object) -> str:
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isascii()):
        raise InvalidMoney(f"currency must be a three-letter ISO 4217 code, got {currency!r}")
    if not currency.isupper() or not currency.isalpha():
        raise InvalidMoney(f"currency must be a three-letter ISO 4217 code, got {currency!r}")
    return currency


_DECIMAL_TEXT: Final = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def parse_amount(value: object) -> Decimal:
    """Reads an amount exactly from a Decimal, an int or a string; a float is refused."""
    if isinstance(value, bool | float):
        raise InvalidMoney(f"amount must be exact (a string or a Decimal), got {value!r}")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str):
        # The JSON number grammar, in ASCII: Decimal alone would take "1_000" or full-width digits.
        if not _DECIMAL_TEXT.fullmatch(value):
            raise InvalidMoney(f"amount is not a decimal number: {value!r}")
        amount = Decimal(value)
    else:
        raise InvalidMoney(f"amount must be a decimal number, got {type(value).__name__}")
    if not amount.is_finite():
        raise InvalidMoney(f"amount must be finite, got {value!r}")
    return amount


@attrs.frozen(order=False)
class Money:
    """An amount of one currency, quantized to the currency's minor digits.

    More precision than the currency has is an error, not a rounding: 10.005 RUB is refused.
    """

    amount: Decimal
    currency: str = DEFAULT_CURRENCY

    def __attrs_post_init__(self) -> None:
        currency = check_currency(self.currency)
        amount = parse_amount(self.amount)
        if amount < 0:
            raise InvalidMoney(f"amount must not be negative, got {amount}")
        digits = minor_digits(currency)
        quantum = Decimal(1).scaleb(-digits)
        try:
            quantized = amount.quantize(quantum)
        except InvalidOperation:
            raise InvalidMoney(f"amount is too large: {amount}") from None
        if quantized != amount:
            raise InvalidMoney(f"{currency} has {digits} minor digits; {amount} has more")
        # copy_abs: "-0" is zero, never a negative-looking "-0.00" on the wire.
        object.__setattr__(self, "amount", quantized.copy_abs())

    @classmethod
    def of(cls, amount: object, currency: str = DEFAULT_CURRENCY) -> Money:
        return cls(parse_amount(amount), currency)

    @classmethod
    def zero(cls, currency: str = DEFAULT_CURRENCY) -> Money:
        return cls(Decimal(0), currency)

    @property
    def minor_unit(self) -> Money:
        """The smallest positive amount of this currency (0.01 RUB)."""
        return Money(Decimal(1).scaleb(-minor_digits(self.currency)), self.currency)

    @property
    def is_zero(self) -> bool:
        return self.amount == 0

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise InvalidMoney(f"currency mismatch: {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount >= other.amount

    def __str__(self) -> str:
        """The contract's form: a string with the currency's minor digits ("5000.00")."""
        return f"{self.amount:f}"
