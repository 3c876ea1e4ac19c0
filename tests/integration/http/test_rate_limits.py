"""Reservations are rate-limited per caller (contract 1.1; issue 11, item 3: 2,000 requests of
one token took all 967 certificates in 2.2 s and every other channel got 409)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gcp_adapters.http.rate_limit import MemoryBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_caller_over_its_rate_gets_429_and_the_others_are_not_slowed(
    make_client: Callable[..., Any], bearer: Callable[..., Any], problem: Callable[..., Any]
) -> None:
    clock = Clock()
    client = make_client(rate=MemoryBuckets(2, now=clock))  # 2 a second, bursts of 4
    web = bearer("channel", sub="web-shop")

    answers = [client.get("/certificates/next", headers=web) for _ in range(5)]

    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    problem(answers[4], 429, "rate-limited")
    assert answers[4].headers["Retry-After"] == "1"
    # Another channel is not slowed: it gets the pool's last certificate.
    assert client.get("/certificates/next", headers=bearer("channel", sub="pos")).status_code == 200
    # A second later the web shop may ask again (and now finds the pool empty).
    clock.now += 1.0
    problem(client.get("/certificates/next", headers=web), 409, "pool-exhausted")


def test_the_other_endpoints_are_not_limited(
    make_client: Callable[..., Any], bearer: Callable[..., Any], world: Any
) -> None:
    client = make_client(rate=MemoryBuckets(1, now=Clock()))
    support = bearer("support", sub="desk")
    statuses = {
        client.get(f"/certificates/{world.certificate_id}", headers=support).status_code
        for _ in range(10)
    }
    assert statuses == {200}
