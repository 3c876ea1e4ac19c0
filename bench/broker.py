"""`python -m bench.broker`: the embedded broker in a process of its own, for the end-to-end
bench (bench/e2e.py). Prints its address on the first line, then serves until SIGTERM."""

from __future__ import annotations

import signal
import threading

from gcp_adapters.kafka.embedded import EmbeddedBroker

PARTITIONS = 4


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with EmbeddedBroker(partitions=PARTITIONS) as broker:
        broker.cluster.set_group_initial_rebalance_delay(50)
        print(broker.bootstrap_servers, flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
