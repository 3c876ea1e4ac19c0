"""A real `dbt build` of the marts on a real DuckDB file, checked against plain Python.

The landing gets a year of synthetic traffic (bench/bi_workload.py) as Kafka would deliver it:
spread over partitions, some messages delivered twice (the same eventId or messageId at
another offset), a certificate's versions landed out of order, and messages no model can use.
Every mart must equal what tests/bi_reference.py computes from the same messages; then a
message about a closed day arrives late, and only that day's movements change.
"""

from __future__ import annotations

import json
import random
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
from tests.bi_reference import STREAM, Reference, assert_marts_match

from bench import bi_workload
from gcp_adapters.bi.dbt_run import dbt_build
from gcp_adapters.bi.landing import Batch, Landing, landing_path

PARTITIONS = 3


def _land(landing: Landing, messages: list[tuple[str, bytes, bytes]]) -> None:
    """Lands the messages spread over partitions by key, with their next offsets."""
    offsets = landing.offsets()
    batch = Batch()
    for topic, key, value in messages:
        partition = hash(key) % PARTITIONS
        offset = offsets.get((topic, partition), -1) + 1
        offsets[(topic, partition)] = offset
        batch.append(topic, partition, offset, key, value, '{"schemaVersion": "1"}', 0)
    landing.land(batch)


def _liability(marts: Path) -> dict[tuple[object, str], tuple[object, ...]]:
    db = duckdb.connect(str(marts), read_only=True)
    try:
        rows = db.execute("SELECT * FROM marts.marts.liability_daily").fetchall()
    finally:
        db.close()
    return {(row[0], row[1]): tuple(row[2:]) for row in rows}


def _held_back(messages: list[tuple[str, bytes, bytes]]) -> bytes:
    """A RUB certificate whose every publication is of one day in spring, with no redemption:
    the one whose messages will arrive late."""
    days: dict[bytes, set[str]] = {}
    statuses: dict[bytes, set[str]] = {}
    for topic, key, value in messages:
        if topic == STREAM:
            body = json.loads(value)
            if body.get("certificateId") and body.get("currency") in ("RUB", None):
                days.setdefault(key, set()).add(body["occurredAt"][:10])
                statuses.setdefault(key, set()).add(body["status"])
    return next(
        key
        for key, seen in days.items()
        if len(seen) == 1 and min(seen) > "2026-03-01" and "ISSUED" in statuses[key]
        and statuses[key] <= {"RESERVED", "ISSUED", "NOTIFICATION_REQUESTED", "NOTIFICATION_SENT"}
    )  # fmt: skip


MOVEMENTS = slice(1, 7)  # issued .. cancelled in the rows of _liability


def test_the_marts_equal_an_independent_computation_and_a_late_day_changes_only_itself(
    tmp_path: Path,
) -> None:
    rng = random.Random(7)
    messages = list(bi_workload.generate(6000))
    late_key = _held_back(messages)
    late = [m for m in messages if m[1] == late_key]
    on_time = [m for m in messages if m[1] != late_key]
    # Redeliveries: a tenth of the messages again, later (another offset, same ids).
    delivered = on_time + rng.sample(on_time, len(on_time) // 10)
    # Out of order: one certificate's publications landed newest first.
    first = next(key for topic, key, _ in on_time if topic == STREAM)
    own = [m for m in delivered if m[1] == first]
    delivered = [m for m in delivered if m[1] != first] + own[::-1]
    rejects = [
        (STREAM, b"k", b"not json"),
        (STREAM, b"k", json.dumps({"status": "ISSUED"}).encode()),  # no eventId
        ("All_Payments", b"o", json.dumps(["a list"]).encode()),
    ]
    marts = tmp_path / "bi" / "marts.duckdb"
    with Landing(landing_path(marts)) as landing:
        _land(landing, delivered + rejects)

    result = dbt_build(marts, landing_path(marts), {})
    assert result.success, result.failures
    assert result.models >= 15
    assert result.tests >= 60
    assert_marts_match(marts, Reference((topic, value) for topic, _, value in delivered))
    db = duckdb.connect(str(marts), read_only=True)
    problems = db.execute("SELECT problem FROM marts.marts.rejected_messages").fetchall()
    db.close()
    assert sorted(p for (p,) in problems) == [
        "missing or bad eventId, status, occurredAt",
        "value is not JSON",
        "value is not a JSON object",
    ]
    before = _liability(marts)

    # The held-back certificate's publications arrive now, weeks after their day.
    with Landing(landing_path(marts)) as landing:
        _land(landing, late)
    result = dbt_build(marts, landing_path(marts), {})
    assert result.success, result.failures
    assert_marts_match(marts, Reference((topic, value) for topic, _, value in delivered + late))
    after = _liability(marts)
    issued = next(json.loads(v) for t, _, v in late if json.loads(v)["status"] == "ISSUED")
    day = date.fromisoformat(issued["occurredAt"][:10])
    amount = Decimal(issued["amount"])
    assert after.keys() == before.keys()
    changed = {key for key in after if after[key][MOVEMENTS] != before[key][MOVEMENTS]}
    assert changed == {(day, "RUB")}
    assert after[(day, "RUB")][1] == before[(day, "RUB")][1] + amount  # issued
    for (when, currency), row in after.items():
        if when < day or currency != "RUB":
            assert row == before[(when, currency)]  # days before it: untouched
        else:  # its day and those after carry it: closing = opening + movements
            assert row[7] == before[(when, currency)][7] + amount
