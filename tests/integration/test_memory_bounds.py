"""Memory that levels off: every cache of a long-running process is bounded, and a second round
of the same work allocates (almost) nothing more than the first left behind.

The work is what `gcp serve` does all day, on SQLite with small caches so that they fill within
the test: certificates reserved from the pool, sold and redeemed through the inbound batches,
and every change read by the relay's outbox. A cache that kept what it saw (the pool index in
memory before issue 12, an unbounded map of orders, ...) grows with every round and fails.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.conftest import make_settings
from tests.integration.matching.conftest import Envelopes
from tests.issuing import ADMIN, POOL

from gcp_adapters.bootstrap import build_application
from gcp_app.application import GiftCertificates
from gcp_app.inbound import InboundBatches
from gcp_app.inbound import builders as build
from gcp_app.outbox import Outbox

CACHE = 40
ROUND = 120  # certificates sold and redeemed per round: three times the caches
ROUND_GROWTH_LIMIT = 512 * 1024  # bytes a round may leave behind (interned strings, ...)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[GiftCertificates]:
    settings = make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'gcp.sqlite'}",
        GCP_MATCHER_CACHE_SIZE=str(CACHE),
        GCP_RELAY_CACHE_SIZE=str(CACHE),
    )
    application = build_application(settings)
    yield application
    application.close()


class Day:
    """A round of business: ROUND certificates reserved, sold, then redeemed in part."""

    def __init__(self, app: GiftCertificates) -> None:
        self.app = app
        self.batches = InboundBatches(app)
        self.outbox = Outbox(app.store, app.settings.relay_cache_size)
        self.envelopes = Envelopes()
        self.sold = 0
        self.published = 0

    def run(self) -> None:
        self.app.pools.generate_certificates(POOL, ROUND, cause=ADMIN)
        sales = []
        redemptions = []
        for _ in range(ROUND):
            n = self.sold = self.sold + 1
            granted = self.app.reservations.reserve_next(
                POOL, channel="WEB", order_id=f"WEB-{n}", cause=ADMIN
            )
            line = build.certificate_line(granted.certificate_id, "100.00")
            sales += [
                build.order(f"WEB-{n}", certificates=[line], store_id="WEB-001"),
                build.payment(f"WEB-{n}", f"PAY-{n}", "PAYMENT_CAPTURED", "100.00"),
            ]
            used = build.redemption_line(granted.number, "10.00")
            redemptions += [
                build.order(f"POS-{n}", redemptions=[used], channel="POS", customer=None),
                build.redemption_payment(f"POS-{n}", f"RPOS-{n}", granted.number, "10.00"),
            ]
        for messages in (sales, redemptions):
            for start in range(0, len(messages), 50):
                self.batches.handle([self.envelopes(m) for m in messages[start : start + 50]])
        while True:
            messages, position = self.outbox.read(self.published, 100)
            if position == self.published:
                break
            self.published = position


def test_caches_stay_within_their_bounds_and_a_second_round_leaves_nothing_behind(
    app: GiftCertificates,
) -> None:
    day = Day(app)
    day.run()  # fills every cache and pool of connections
    gc.collect()
    tracemalloc.start()
    try:
        day.run()
        gc.collect()
        after_one, _ = tracemalloc.get_traced_memory()
        day.run()
        gc.collect()
        after_two, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert after_two - after_one < ROUND_GROWTH_LIMIT, (
        f"a round of {ROUND} sales left {after_two - after_one:,} bytes behind"
    )
    assert day.outbox.cached == CACHE  # full, and no fuller
    assert day.batches.cached == CACHE
    assert app.pool_status(POOL).issued == 3 * ROUND
