"""Bounds on the text GCP records and publishes (contract 1.1, "Conventions"): text fields
(reasons, errors, names) are cut to 1,000 characters; identifiers are at most 200.

Commands cut, appliers never do: an event stored before the bound replays as it was stored.
"""

from __future__ import annotations

from typing import Final, overload

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
