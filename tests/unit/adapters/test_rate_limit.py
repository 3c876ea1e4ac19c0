"""The per-caller token buckets (contract 1.1: GCP_RATE_PER_SECOND, bursts up to twice that)."""

from __future__ import annotations

import asyncio

import pytest

from gcp_adapters.http.rate_limit import MemoryBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def takes(buckets: MemoryBuckets, caller: str, count: int) -> list[float]:
    async def run() -> list[float]:
        return [await buckets.take(caller) for _ in range(count)]

    return asyncio.run(run())


def test_a_burst_of_twice_the_rate_then_the_rate() -> None:
    clock = Clock()
    buckets = MemoryBuckets(50, now=clock)

    waits = takes(buckets, "web-shop", 101)
    assert waits[:100] == [0.0] * 100
    assert waits[100] == pytest.approx(1 / 50)

    clock.now += 1.0  # a second later: fifty more
    waits = takes(buckets, "web-shop", 51)
    assert waits[:50] == [0.0] * 50
    assert waits[50] > 0


def test_callers_have_buckets_of_their_own() -> None:
    buckets = MemoryBuckets(1, now=Clock())
    assert takes(buckets, "web-shop", 3) == [0.0, 0.0, pytest.approx(1.0)]
    assert takes(buckets, "pos", 2) == [0.0, 0.0]


def test_a_refused_request_takes_no_token() -> None:
    clock = Clock()
    buckets = MemoryBuckets(1, now=clock)
    takes(buckets, "web-shop", 2)
    assert all(wait > 0 for wait in takes(buckets, "web-shop", 5))
    clock.now += 1.0
    assert takes(buckets, "web-shop", 1) == [0.0]


def test_a_rate_is_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        MemoryBuckets(0)
