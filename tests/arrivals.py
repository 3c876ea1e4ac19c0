"""Arrival orders for the property tests: any order Kafka can produce, with redeliveries."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


def sale_story_ready(after: Mapping[str, set[str]]) -> Callable[[str, set[str]], bool]:
    """The `ready` of the sale stories (a sale "sale"/"paid", CRM's result "sent", a redemption
    "use-line"/"use-pay", a refund "refund-line"): a name waits for those `after` lists (same
    key on the same topic: one partition, produce order); CRM's result waits for the issue (the
    payment and an order message listing the lines); the later of the redemption's two halves
    waits for the issue too, since the buyer redeems a certificate they hold."""

    def ready(name: str, seen: set[str]) -> bool:
        issued = "paid" in seen and bool({"sale", "refund-line"} & seen)
        if not after.get(name, set()) <= seen:
            return False
        if name == "sent":
            return issued
        if name in ("use-line", "use-pay"):
            other = "use-pay" if name == "use-line" else "use-line"
            return issued or other not in seen
        return True

    return ready
