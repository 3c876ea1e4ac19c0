"""Stocking pools: numbers and CVCs drawn from a CSPRNG, or read from a card vendor's CSV."""

from __future__ import annotations

import csv
import secrets
from collections.abc import Iterable
from typing import Final

import attrs

from gcp_domain.errors import InvalidCertificateNumber
from gcp_domain.numbers import LENGTH, CertificateNumber

# Bodies start with 1-9: a leading zero is lost by every spreadsheet an operator opens.
_BODY_LOW: Final = 10 ** (LENGTH - 2)
_BODY_SPAN: Final = 9 * _BODY_LOW
CVC_MIN_DIGITS: Final = 3
CVC_MAX_DIGITS: Final = 8


def draw_number() -> CertificateNumber:
    return CertificateNumber.from_body(str(_BODY_LOW + secrets.randbelow(_BODY_SPAN)))


def draw_cvc(digits: int) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


@attrs.frozen
class VendorRow:
    line: int
    number: CertificateNumber
    cvc: str = attrs.field(repr=False)  # never printed


def read_vendor_csv(lines: Iterable[str]) -> tuple[list[VendorRow], list[tuple[int, str]]]:
    """Rows with a `number` and a `cvc` column (other columns are ignored).

    Returns the good rows and (line, reason) for every bad one. Reasons never quote the CVC.
    """
    reader = csv.DictReader(lines)
    columns = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
    if "number" not in columns or "cvc" not in columns:
        return [], [(1, "the header must name a 'number' and a 'cvc' column")]
    rows: list[VendorRow] = []
    problems: list[tuple[int, str]] = []
    first_line_of: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        raw_number = (record.get(columns["number"]) or "").strip()
        cvc = (record.get(columns["cvc"]) or "").strip()
        try:
            number = CertificateNumber.parse(raw_number)
        except InvalidCertificateNumber as error:
            problems.append((line, str(error)))
            continue
        if not (cvc.isascii() and cvc.isdigit() and CVC_MIN_DIGITS <= len(cvc) <= CVC_MAX_DIGITS):
            problems.append(
                (line, f"the CVC must have {CVC_MIN_DIGITS} to {CVC_MAX_DIGITS} digits")
            )
            continue
        if number.value in first_line_of:
            problems.append((line, f"the number repeats line {first_line_of[number.value]}"))
            continue
        first_line_of[number.value] = line
        rows.append(VendorRow(line, number, cvc))
    if not rows and not problems:
        problems.append((1, "the file has no certificates"))
    return rows, problems
