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
    "BHD": 3, "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0,
    "KMF": 0, "KRW": 0, "KWD": 3, "LYD": 3, "OMR": 3, "PYG": 0, "RWF": 0, "TND": 3, "UGX": 0,
    "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
}  # fmt: skip
# The currencies of ISO 4217 (list one, 2025) that money can be paid in: no funds codes (BOV,
# CHE, ...), no metals, no XDR, and not XTS (testing) or XXX (no currency).
ISO_4217: Final = frozenset(
    """AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
    GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR
    KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK
    MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR
    SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS
    UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG""".split()  # noqa: SIM905
)
DEFAULT_CURRENCY: Final = "RUB"


def minor_digits(currency: str) -> int:
    return MINOR_DIGITS.get(currency, 2)


def check_currency(currency: object) -> str:
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isascii()):
        raise InvalidMoney(f"currency must be a three-letter ISO 4217 code, got {currency!r}")
    if not currency.isupper() or not currency.isalpha():
        raise InvalidMoney(f"currency must be a three-letter ISO 4217 code, got {currency!r}")
    if currency not in ISO_4217:
        raise InvalidMoney(f"currency {currency} is not an ISO 4217 currency")
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
