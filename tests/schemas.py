"""The JSON Schemas of docs/contracts as validators, for the tests that check messages against
them (one definition of how a date-time is checked)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker

CONTRACTS = Path(__file__).resolve().parents[1] / "docs" / "contracts"


def format_checker() -> FormatChecker:
    """uuid is checked by jsonschema itself; date-time needs an optional package, so the
    standard library stands in for it when that package is missing."""
    checker = FormatChecker()
    if "date-time" not in checker.checkers:

        @checker.checks("date-time", raises=ValueError)
        def is_datetime(instance: object) -> bool:
            if not isinstance(instance, str):
                return True
            # RFC 3339 allows a lowercase t and z; fromisoformat does not.
            return datetime.fromisoformat(instance.upper()).tzinfo is not None

    return checker


def contract_validator(name: str) -> Draft202012Validator:
    """A validator of the schema `docs/contracts/<name>`."""
    schema = json.loads((CONTRACTS / name).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=format_checker())
