"""Argument types of the `gcp` commands (a bad value is refused by argparse with one line that
says why, and exit status 2, never a traceback), and the exit statuses every command uses."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from typing import Final

# Bad input or configuration (argparse's own status for a bad argument).
EXIT_REFUSED: Final = 2
# Tried and failed (a dbt test, a step of the demo, a republish that stalled).
EXIT_FAILED: Final = 1


def whole_number(least: int) -> Callable[[str], int]:
    """A whole number, `least` or more."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"{value} is not {least} or more")
        return value

    return parse


positive = whole_number(1)
not_negative = whole_number(0)


def instant(text: str) -> datetime:
    """An RFC 3339 instant with its offset."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an RFC 3339 instant (say 2026-11-26T10:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs its offset (say ...T10:00:00Z)")
    return moment
