"""The landing area: every message of the four topics, as it came, in a DuckDB file.

Append-only and columnar: `landing.messages` holds one row per (topic, partition, offset) with
the key, the value, the headers and the broker's timestamp; `landing.offsets` holds the last
offset landed per partition. Both are written in ONE transaction per batch, so after any crash
the offsets say exactly which messages are in the table: the ingest resumes at offset + 1 and
nothing is landed twice or lost (exactly once, docs/bi.md).

A value that is not a JSON object (not UTF-8, not JSON, a tombstone) is landed all the same,
its bytes in `raw` and the reason in `problem`: kept and flagged, never fatal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import attrs
import duckdb
import pyarrow as pa

from gcp_adapters.closing import ClosedOnExit

SCHEMA: Final = """
CREATE SCHEMA IF NOT EXISTS landing;
CREATE TABLE IF NOT EXISTS landing.messages (
    topic VARCHAR NOT NULL,
    kafka_partition INTEGER NOT NULL,
    kafka_offset BIGINT NOT NULL,
    message_key VARCHAR,
    value VARCHAR,
    headers VARCHAR,
    message_timestamp TIMESTAMP,
    landed_at TIMESTAMP NOT NULL,
    problem VARCHAR,
    raw BLOB
);
CREATE TABLE IF NOT EXISTS landing.offsets (
    topic VARCHAR NOT NULL,
    kafka_partition INTEGER NOT NULL,
    kafka_offset BIGINT NOT NULL,
    landed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (topic, kafka_partition)
);
"""

# One statement turns a batch (an Arrow table) into rows: the value is checked to be a JSON
# object here, vectorised, not message by message in Python. `value` is the JSON text (VARCHAR:
# DuckDB's JSON functions read it as such; a JSON-typed column would parse it once more).
_INSERT: Final = """
INSERT INTO landing.messages
SELECT
    topic,
    kafka_partition,
    kafka_offset,
    try(decode(message_key)),
    CASE WHEN problem IS NULL THEN text END,
    headers,
    make_timestamp(timestamp_ms * 1000),
    $landed_at,
    problem,
    CASE WHEN problem IS NOT NULL THEN value END
FROM (
    SELECT
        *,
        CASE
            WHEN value IS NULL THEN 'no value (tombstone)'
            WHEN text IS NULL THEN 'value is not UTF-8'
            WHEN NOT json_valid(text) THEN 'value is not JSON'
            WHEN NOT starts_with(ltrim(text), '{') THEN 'value is not a JSON object'
        END AS problem
    FROM (SELECT *, try(decode(value)) AS text FROM batch)
)
"""

_UPSERT_OFFSETS: Final = """
INSERT INTO landing.offsets
SELECT topic, kafka_partition, max(kafka_offset), $landed_at FROM batch GROUP BY ALL
ON CONFLICT (topic, kafka_partition) DO UPDATE SET kafka_offset = excluded.kafka_offset,
    landed_at = excluded.landed_at
"""

CHECKPOINT_THRESHOLD: Final = "256MB"

BATCH_SCHEMA: Final = pa.schema(
    [
        ("topic", pa.string()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
        ("message_key", pa.binary()),
        ("value", pa.binary()),
        ("headers", pa.string()),
        ("timestamp_ms", pa.int64()),
    ]
)


@attrs.define
class Batch:
    """Messages polled and not landed yet, column by column (cheap to append, one Arrow table
    to insert)."""

    topic: list[str] = attrs.Factory(list)
    partition: list[int] = attrs.Factory(list)
    offset: list[int] = attrs.Factory(list)
    key: list[bytes | None] = attrs.Factory(list)
    value: list[bytes | None] = attrs.Factory(list)
    headers: list[str | None] = attrs.Factory(list)
    timestamp_ms: list[int | None] = attrs.Factory(list)

    def __len__(self) -> int:
        return len(self.offset)

    def append(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: str | None = None,
        timestamp_ms: int | None = None,
    ) -> None:
        self.topic.append(topic)
        self.partition.append(partition)
        self.offset.append(offset)
        self.key.append(key)
        self.value.append(value)
        self.headers.append(headers)
        self.timestamp_ms.append(timestamp_ms)

    def table(self) -> pa.Table:
        return pa.Table.from_arrays(
            [
                pa.array(self.topic, pa.string()),
                pa.array(self.partition, pa.int32()),
                pa.array(self.offset, pa.int64()),
                pa.array(self.key, pa.binary()),
                pa.array(self.value, pa.binary()),
                pa.array(self.headers, pa.string()),
                pa.array(self.timestamp_ms, pa.int64()),
            ],
            schema=BATCH_SCHEMA,
        )


Offsets = Mapping[tuple[str, int], int]


def landing_path(marts_database: Path) -> Path:
    """The landing file, beside the marts' file (marts.duckdb: marts-landing.duckdb)."""
    return marts_database.with_name(f"{marts_database.stem}-landing.duckdb")


class Landing(ClosedOnExit):
    """The landing DuckDB file, open for writing (one writer at a time: DuckDB locks it)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # Attached under a fixed name, so that `landing.messages` means the schema whatever the
        # file is called (a file named landing.duckdb would otherwise make it ambiguous).
        self._db = duckdb.connect()
        quoted = str(path).replace("'", "''")
        self._db.execute(f"ATTACH '{quoted}' AS landing_db")
        self._db.execute("USE landing_db")
        # Checkpoint when closing (after each catch-up, before each build), not every 16 MB of
        # log: checkpointing during the landing more than halved its rate (docs/bi.md).
        self._db.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
        self._db.execute("SET enable_progress_bar = false")
        self._db.execute(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def offsets(self) -> dict[tuple[str, int], int]:
        """The last offset landed of each partition: where the ingest resumes (offset + 1)."""
        rows = self._db.execute("SELECT topic, kafka_partition, kafka_offset FROM landing.offsets")
        return {(topic, partition): offset for topic, partition, offset in rows.fetchall()}

    def land(self, batch: Batch | pa.Table) -> int:
        """Appends the messages and moves the offsets in one transaction; returns how many.

        Messages at or below an offset already landed (a redelivery after a rebalance, a seek
        back) are dropped here, inside the same transaction, so a message is landed once."""
        table = batch.table() if isinstance(batch, Batch) else batch
        if table.num_rows == 0:
            return 0
        now = datetime.now(UTC).replace(tzinfo=None)
        db = self._db
        db.begin()
        try:
            db.register("incoming", table)
            db.execute(
                """
                CREATE OR REPLACE TEMP TABLE batch AS
                SELECT i.* FROM incoming i
                LEFT JOIN landing.offsets o USING (topic, kafka_partition)
                WHERE o.kafka_offset IS NULL OR i.kafka_offset > o.kafka_offset
                """
            )
            db.unregister("incoming")
            landed = _count(db, "SELECT count(*) FROM batch")
            db.execute(_INSERT, {"landed_at": now})
            db.execute(_UPSERT_OFFSETS, {"landed_at": now})
            db.execute("DROP TABLE batch")
            db.commit()
        except BaseException:
            db.rollback()
            raise
        return landed

    def count(self, topic: str | None = None) -> int:
        if topic is None:
            return _count(self._db, "SELECT count(*) FROM landing.messages")
        return _count(self._db, "SELECT count(*) FROM landing.messages WHERE topic = ?", [topic])

    def problems(self) -> list[tuple[str, int, int, str]]:
        rows = self._db.execute(
            "SELECT topic, kafka_partition, kafka_offset, problem FROM landing.messages "
            "WHERE problem IS NOT NULL ORDER BY ALL"
        )
        return [(t, p, o, problem) for t, p, o, problem in rows.fetchall()]


def _count(db: duckdb.DuckDBPyConnection, sql: str, parameters: Sequence[object] = ()) -> int:
    row = db.execute(sql, parameters).fetchone()
    assert row is not None
    return int(row[0])
