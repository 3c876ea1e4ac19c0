"""The crash tier: a PostgreSQL schema of its own per test and a mock Kafka cluster that the
test process owns (the consumer under test runs in a child process and is killed at will).

PostgreSQL is at 127.0.0.1:5432 (trust auth), as for the integration tier: where it is
unreachable the tier skips, unless GCP_REQUIRE_POSTGRES=1 (CI), where that is a failure.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gcp_adapters.kafka.mock_cluster import MockCluster


@pytest.fixture
def mock_cluster() -> Iterator[MockCluster]:
    """One mock broker; the test closes its own clients before this fixture closes it."""
    cluster = MockCluster(1)
    cluster.set_group_initial_rebalance_delay(50)  # not the mock's 3 s per new group
    yield cluster
    cluster.close()
