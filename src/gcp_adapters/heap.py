"""The service process's garbage collector, tuned for a long-running server.

The modules, the Litestar app and the application's parts are built once and live as long as
the process. Left to the defaults, every full collection walks them all again, a pause of tens
of milliseconds that lands on whichever requests are in flight, and a young collection runs
every 700 allocations, a few times per request. After start-up (`settle`), what is alive is
moved out of the collector's sight (`gc.freeze`) and young collections run every 50,000
allocations. Cycles are still collected, later and in smaller heaps; measured in
docs/performance.md (the HTTP p99).
"""

from __future__ import annotations

import gc
from typing import Final

YOUNG_THRESHOLD: Final = 50_000


def settle() -> None:
    """Call once the process has built what it keeps, before serving."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
