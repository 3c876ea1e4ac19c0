"""Checks shared by the rules of several commands."""

from __future__ import annotations

from datetime import datetime

from gcp_domain.errors import InvalidCommand


def require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None:
        raise InvalidCommand(f"{name} must carry a timezone")
