"""Reserves certificates in a process of its own, for test_reservation_concurrency.py.

    python tests/integration/reservation_worker.py URL VAR_DIR N [--wait]

Opens GiftCertificates on the store URL (with VAR_DIR for the CVC key), reserves up to N
certificates of the pool `default` and prints the id of each certificate it was granted, one per
line. It stops early when the pool is exhausted. With --wait it writes `ready` to stderr once the
store is open and waits for a line on stdin before it starts, so that several processes reserve
at the same moment.
"""

from __future__ import annotations

import os
import sys

from gcp_adapters.bootstrap import build_application
from gcp_app.errors import PoolExhausted, ReservationContention
from gcp_app.settings import Settings
from gcp_domain import Cause

POOL = "default"
CONTENTION_RETRIES = 20


def main(argv: list[str]) -> int:
    url, var_dir, count = argv[1], argv[2], int(argv[3])
    wait = "--wait" in argv[4:]
    settings = Settings.from_env({"GCP_DATABASE_URL": url, "GCP_VAR_DIR": var_dir})
    app = build_application(settings)
    granted: list[str] = []
    try:
        app.pool_status(POOL)  # reads the pool now, not on the first reservation
        if wait:
            sys.stderr.write("ready\n")
            sys.stderr.flush()
            sys.stdin.readline()
        for n in range(count):
            cause = Cause(f"test:worker-{os.getpid()}", f"worker-{n}", "concurrency")
            for _ in range(CONTENTION_RETRIES):
                try:
                    reservation = app.reservations.reserve_next(POOL, channel="WORKER", cause=cause)
                except ReservationContention:
                    continue
                granted.append(str(reservation.certificate_id))
                break
            else:
                sys.stderr.write("contention: gave up\n")
                return 2
    except PoolExhausted:
        sys.stderr.write("exhausted\n")
    finally:
        sys.stdout.write("".join(f"{g}\n" for g in granted))
        sys.stdout.flush()
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
