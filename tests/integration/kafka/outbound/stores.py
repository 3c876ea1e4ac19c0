"""Store parametrizations of the outbound tests (besides tests.integration.conftest.DURABLE)."""

from __future__ import annotations

import pytest

# One store on disk: for tests whose subject is Kafka, not the database.
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
