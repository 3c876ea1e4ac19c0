"""(c) ceiling: the event store's own batched write rate, for the same number of events.

Aggregates with a few events each (a creation and three changes, each carrying a Cause, an
exact amount and a reference, like the service's events) are created in memory and saved with
`app.save(*aggregates)` in large batches, on a fresh store of the same application class, so
the recorder (PostgreSQL, process recorder), the mapper and the transcoder are the pipeline's,
and the garbage collector is settled as in the service's processes (`gcp_adapters.heap`).
Nothing is read, matched, decoded or published: this is what eventsourcing can store per second
on this machine, the ceiling for any pipeline that stores events.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Final

from eventsourcing.domain import Aggregate, event

from gcp_app.application import GiftCertificates
from gcp_domain.cause import Cause

EVENTS_PER_AGGREGATE: Final = 4
AGGREGATES_PER_SAVE: Final = 500


class Ledger(Aggregate):
    TOPIC = "bench:Ledger"

    class Created(Aggregate.Created):
        TOPIC = "bench:Ledger.Created"
        reference: str
        amount: Decimal
        cause: Cause

    class Moved(Aggregate.Event):
        TOPIC = "bench:Ledger.Moved"
        reference: str
        amount: Decimal
        cause: Cause

    @event(Created)
    def __init__(self, reference: str, amount: Decimal, cause: Cause) -> None:
        self.reference = reference
        self.balance = amount

    @event(Moved)
    def move(self, reference: str, amount: Decimal, cause: Cause) -> None:
        self.balance -= amount


def run(app: GiftCertificates, events: int) -> dict[str, Any]:
    aggregates_needed = max(1, -(-events // EVENTS_PER_AGGREGATE))
    stored = 0
    started = time.monotonic()
    made = 0
    while made < aggregates_needed:
        batch = []
        for _ in range(min(AGGREGATES_PER_SAVE, aggregates_needed - made)):
            cause = Cause("kafka:All_Payments", f"m-{made}", f"WEB-{made:07d}")
            ledger = Ledger(reference=f"WEB-{made:07d}", amount=Decimal("5000.00"), cause=cause)
            for step in range(1, EVENTS_PER_AGGREGATE):
                ledger.move(reference=f"PAY-{made}-{step}", amount=Decimal("1500.00"), cause=cause)
            batch.append(ledger)
            made += 1
        app.store.save(*batch)
        stored += len(batch) * EVENTS_PER_AGGREGATE
    elapsed = time.monotonic() - started
    return {
        "ceiling_events": stored,
        "ceiling_elapsed_s": elapsed,
        "ceiling_events_per_s": stored / elapsed,
        "ceiling_events_per_save": AGGREGATES_PER_SAVE * EVENTS_PER_AGGREGATE,
    }
