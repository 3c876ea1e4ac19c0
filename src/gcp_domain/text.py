"""Bounds on the text GCP records and publishes (contract 1.1, "Conventions"): text fields
(reasons, errors, names) are cut to 1,000 characters; identifiers are at most 200.

Commands cut, appliers never do: an event stored before the bound replays as it was stored.
"""

from __future__ import annotations

import unicodedata
from typing import Final, overload

from gcp_domain.errors import InvalidCommand

TEXT_LIMIT: Final = 1_000
IDENTIFIER_LIMIT: Final = 200


@overload
def cut(text: str, limit: int = TEXT_LIMIT) -> str: ...
@overload
def cut(text: None, limit: int = TEXT_LIMIT) -> None: ...
def cut(text: str | None, limit: int = TEXT_LIMIT) -> str | None:
    """`text` cut to its first `limit` characters (None stays None)."""
    if text is None or len(text) <= limit:
        return text
    return text[:limit]


def cut_identifier(text: str) -> str:
    """An identifier recorded for audit (an actor, a request id) cut to 200 characters."""
    return cut(text, IDENTIFIER_LIMIT)


# Unicode's bidirectional controls: text that reads otherwise than it is stored (RLO, ...).
_BIDI_CONTROLS: Final = frozenset(
    "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Categories that show nothing: controls, formats (zero-width ...), separators.
_INVISIBLE: Final = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


def check_reason(reason: str, what: str = "a reason") -> str:
    """A reason a person typed (a lock's, say) is text someone can read: no control characters
    (ESC, CR, LF, NUL, ...), no bidirectional overrides, and not only invisible characters."""
    if any(unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS for ch in reason):
        raise InvalidCommand(f"{what} has control or direction characters")
    if all(unicodedata.category(ch) in _INVISIBLE for ch in reason):
        raise InvalidCommand(f"{what} needs visible text")
    return reason
