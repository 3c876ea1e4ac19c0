"""`gcp demo` against `gcp serve`: the ten seed events, end to end, on PostgreSQL.

The test owns a mock Kafka cluster and a fresh PostgreSQL schema, starts `gcp serve` on them as
a subprocess (on a port it picked: the demo needs to know it), runs `gcp demo` as a second
subprocess, then reads the whole stream from the beginning and checks each certificate's
publications, in order. SIGTERM must then stop the service with exit code 0.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.cli_runs import free_port, run_gcp

from gcp_adapters.kafka.mock_cluster import MockCluster

pytestmark = pytest.mark.postgres

DEMO_TIMEOUT = 60.0

# What the ten events publish, per key (a certificate id, or the blocked pool's name).
FIRST = [
    "RESERVED",
    "ISSUED",
    "NOTIFICATION_REQUESTED",
    "NOTIFICATION_SENT",
    "PARTIALLY_REDEEMED",
    "REDEEMED",
]
REFUNDED = ["RESERVED", "ISSUED", "REFUND_PENDING", "REFUND_PENDING_DETAILS", "REFUNDED"]
LOCKED = ["RESERVED", "ISSUED", "LOCKED", "ACTIVE"]
SMALL_POOL_LAST = ["RESERVED"]
# The small pool (low watermark 1) runs low, then dry; the main pool, stocked with 20 under the
# default watermark of 100, runs low at its first reservation.
BLOCKED = ["POOL_LOW", "ISSUE_BLOCKED"]
MAIN_POOL = ["POOL_LOW"]


def test_the_demo_walks_the_ten_seed_events(
    kit: Any,
    postgres_schema: Callable[[], contextlib.AbstractContextManager[str]],
    tmp_path: Path,
) -> None:
    cluster = MockCluster()
    service = None
    try:
        cluster.set_group_initial_rebalance_delay(50)
        for topic in (*kit.INBOUND, *kit.OUTBOUND):
            cluster.create_topic(topic, kit.PARTITIONS)
        bootstrap = cluster.bootstrap_servers
        port = free_port()
        with postgres_schema() as url:
            env = kit.service_environment(tmp_path / "var", url, bootstrap, GCP_HTTP_PORT=str(port))
            service = kit.ServiceProcess(env, tmp_path, "--stock", "20")
            service.wait_ready()
            assert f"http: http://127.0.0.1:{port}" in "\n".join(service.lines)

            # The token secret comes from <GCP_VAR_DIR>/jwt.secret, as a newcomer's would.
            demo = run_gcp(
                env,
                tmp_path,
                "demo",
                "--url",
                f"http://127.0.0.1:{port}",
                "--bootstrap",
                bootstrap,
                timeout=DEMO_TIMEOUT,
            )
            said = f"demo stdout:\n{demo.stdout}\ndemo stderr:\n{demo.stderr}"
            assert demo.returncode == 0, f"{said}\n{service.describe()}"
            for number in range(1, 11):
                assert f"== {number}. " in demo.stdout, said
            assert "CVC received (hidden)" in demo.stdout, said
            assert "urn:gcp:problem:pool-exhausted" in demo.stdout, said
            assert "below its low watermark of 1" in demo.stdout, said
            # The CVC handed out is a version the stream does not publish: the demo says so.
            assert "(after 1 unpublished change, such as the CVC handed out)" in demo.stdout
            assert "the admin refills the pool" in demo.stdout, said

            # The demo cleans up after itself: its small pool is refilled to its watermark.
            status = run_gcp(
                env, tmp_path, "pool", "status", "--json", timeout=DEMO_TIMEOUT, check=True
            )
            [small] = [p for p in json.loads(status.stdout) if p["pool"].startswith("demo-small")]
            assert small["available"] >= small["lowWatermark"] == 1, small

            reader = kit.Reader(bootstrap)
            try:
                reader.read_to_end()
                assert not reader.dead_letters(), reader.dead_letters()
                by_key: dict[bytes, list[str]] = {}
                for item in reader.received:
                    if item.topic == kit.STREAM:
                        assert item.key is not None
                        kit.check_schema(kit.STREAM, item.value)
                        by_key.setdefault(item.key, []).append(item.status)
            finally:
                reader.close()
            # Each publication once (the relay and the stream are at least once, but nothing
            # here was retried), in each certificate's order.
            expected = [FIRST, REFUNDED, LOCKED, SMALL_POOL_LAST, BLOCKED, MAIN_POOL]
            assert sorted(by_key.values()) == sorted(expected), by_key
            # The CVC's body is never printed: the demo says only that it got one.
            assert '"cvc"' not in demo.stdout

            code = service.stop()
            described = service.describe()
            assert code == 0, f"gcp serve did not stop cleanly: {described}"
            assert any(line.startswith("stopping:") for line in service.lines), described
            logs = service.log_path.read_text(encoding="utf-8", errors="replace")
            assert "Traceback" not in logs, described
    finally:
        if service is not None and service.popen.poll() is None:
            service.stop()
        cluster.close()
