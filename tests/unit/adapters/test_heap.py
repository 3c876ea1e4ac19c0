"""`gcp serve` settles the heap before serving: what lives is frozen, young GCs rarer."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gcp_adapters import heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_settle_freezes_what_lives_and_makes_young_collections_rarer() -> None:
    kept = [object() for _ in range(1000)]
    gc.unfreeze()
    _, middle, old = gc.get_threshold()

    heap.settle()

    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, middle, old)
