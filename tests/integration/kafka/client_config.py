"""Configuration shared by the Kafka clients of these tests."""

from __future__ import annotations

# Short reconnect backoff: a broker that comes back up is reached in well under a second.
FAST_RECONNECT = {"reconnect.backoff.ms": 20, "reconnect.backoff.max.ms": 250}
