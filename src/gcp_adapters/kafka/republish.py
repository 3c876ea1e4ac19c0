"""`gcp stream republish`: the stream's history published again, with the same eventIds."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from gcp_adapters.kafka.relay import DEFAULT_BATCH_SIZE, DEFAULT_STREAM_TOPIC, WAIT_STEP, Relay
from gcp_app.application import GiftCertificates
from gcp_app.outbox import STREAM, Outbox


class RepublishStalled(Exception):
    """Republishing made no progress for too long (the brokers unreachable, ...)."""


@attrs.frozen
class Republished:
    first: int
    """The first notification position read."""
    last: int
    """The last notification position read (the newest when the command started)."""
    messages: int
    """Messages published (acknowledged)."""


def republish(
    app: GiftCertificates,
    producer_config: Mapping[str, Any],
    topic: str = DEFAULT_STREAM_TOPIC,
    *,
    start: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    stall_timeout: float = 60.0,
    progress: Callable[[int], None] | None = None,
) -> Republished:
    """Publishes the stream's history again to `topic`, from notification position `start` up
    to the newest one when called: the same keys, headers and eventIds as the first time, so
    consumers dedupe it (or rebuild from it). Dead letters are not republished. Records no
    position: the relay's own position is untouched. `progress` gets the notifications done.

    Raises RepublishStalled when nothing was acknowledged for `stall_timeout` seconds (the
    messages are never timed out by the producer itself).
    """
    if start < 1:
        raise ValueError("positions start at 1")
    outbox = Outbox(app.store)
    target = outbox.last_position()
    relay = Relay(
        app,
        producer_config,
        topic,
        batch_size=batch_size,
        outbox=outbox,
        start_after=start - 1,
        destinations=(STREAM,),
    )
    with relay:
        last_progress = time.monotonic()
        while relay.position < target:
            before = relay.position
            relay.run_once(limit=min(batch_size, target - before), timeout=WAIT_STEP * 5)
            if relay.position > before:
                last_progress = time.monotonic()
                if progress is not None:
                    progress(relay.position - before)
            elif time.monotonic() - last_progress > stall_timeout:
                error = relay.stats().last_error or "no delivery report"
                raise RepublishStalled(
                    f"no message acknowledged for {stall_timeout:.0f} s at position "
                    f"{relay.position} ({error})"
                )
        return Republished(first=start, last=target, messages=relay.stats().published)
