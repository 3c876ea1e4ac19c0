"""Arrival orders for the property tests: any order Kafka can produce, with redeliveries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import strategies as st


def draw_arrivals(
    data: Any, names: Sequence[str], ready: Callable[[str, set[str]], bool]
) -> list[str]:
    """First deliveries in an order `ready` admits (a message is ready once those it must
    follow have arrived), then each message zero to two times more, anywhere after its first
    delivery."""
    firsts: list[str] = []
    while len(firsts) < len(names):
        seen = set(firsts)
        choices = [n for n in names if n not in seen and ready(n, seen)]
        firsts.append(data.draw(st.sampled_from(choices), label="next"))
    sequence = list(firsts)
    for name in names:
        for _ in range(data.draw(st.integers(0, 2), label=f"again {name}")):
            start = sequence.index(name) + 1
            sequence.insert(data.draw(st.integers(start, len(sequence)), label="at"), name)
    return sequence
