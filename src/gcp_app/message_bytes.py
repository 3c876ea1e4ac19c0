"""What GCP records of a message's raw bytes (a dead letter's source, a parked message's key):
the first of them, in base64, so that no message, however large, is stored whole."""

from __future__ import annotations

import base64
from typing import Final

# A message's key is an id (an orderId, a clientId): its first KiB names the message well enough.
KEY_LIMIT: Final = 1024


def kept_bytes(data: bytes | None, limit: int = KEY_LIMIT) -> str | None:
    """The first `limit` bytes of `data`, in base64 (None stays None)."""
    return None if data is None else base64.b64encode(data[:limit]).decode("ascii")
