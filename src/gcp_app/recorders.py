"""Process recorders that take several tracking positions in one transaction.

The inbound consumer commits a whole poll (messages from several topic-partitions) in one
database transaction with its effects. The library's process recorders track one position per
transaction; these take `trackings=[...]` too, each (source, offset) refused if not beyond the
recorded one, so a message already applied can never be applied again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import (
    AggregateRecorder,
    IntegrityError,
    InterfaceError,
    OperationalError,
    StoredEvent,
    Tracking,
)
from eventsourcing.popo import POPOProcessRecorder
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteCursor, SQLiteProcessRecorder
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from gcp_app.pool_rows import POOL_ROWS, PoolRow
from gcp_app.pool_table_memory import MemoryPoolTable
from gcp_app.pool_tables import PostgresPoolTable, SQLitePoolTable

# Which events of one aggregate to read: versions above the first, up to the second (None: all).
VersionRange = tuple[int, int | None]


def _trackings(kwargs: dict[str, Any]) -> Sequence[Tracking]:
    trackings: Sequence[Tracking] = kwargs.get("trackings", ())
    return trackings


def _pool_rows(kwargs: dict[str, Any]) -> Sequence[PoolRow]:
    rows: Sequence[PoolRow] = kwargs.get(POOL_ROWS, ())
    return rows


def pool_table_name(events_table_name: str) -> str:
    """The pool index's table: "gcp_pool_index" beside the library's "stored_events", and
    named after the events' table where that is named otherwise."""
    if events_table_name == "stored_events":
        return "gcp_pool_index"
    return f"{events_table_name}_pool_index"


class SQLiteInboxRecorder(SQLiteProcessRecorder):
    def __init__(self, datastore: Any, events_table_name: str = "stored_events", **kwargs: Any):
        # Before the library's __init__, which gathers the create statements.
        self.pool_table = SQLitePoolTable(datastore, pool_table_name(events_table_name))
        super().__init__(datastore, events_table_name=events_table_name, **kwargs)

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self.pool_table.create_statements]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        returning = super()._insert_events(c, stored_events, **kwargs)
        for tracking in _trackings(kwargs):
            self._insert_tracking(c, tracking)
        self.pool_table.write(c, _pool_rows(kwargs))
        return returning


def select_events_of_many(
    recorder: AggregateRecorder, wanted: Mapping[UUID, VersionRange]
) -> dict[UUID, list[StoredEvent]]:
    """The events of many aggregates, each in the version range asked for, in version order:
    one query on PostgreSQL (a batch's reads in one round trip), one per aggregate elsewhere.
    An aggregate with no such events is absent from the answer."""
    if isinstance(recorder, PostgresInboxRecorder):
        selected: dict[UUID, list[StoredEvent]] = recorder.select_events_of_many(wanted)
        return selected
    found: dict[UUID, list[StoredEvent]] = {}
    for originator_id, (after, up_to) in wanted.items():
        events = list(recorder.select_events(originator_id, gt=after or None, lte=up_to))
        if events:
            found[originator_id] = events
    return found


def aggregates_of_many(app: Application[UUID], ids: Iterable[UUID]) -> dict[UUID, Any]:
    """Several aggregates rebuilt from their whole histories, in one read
    (`select_events_of_many`). An id with no events is absent from the answer."""
    return aggregates_up_to(app, dict.fromkeys(ids, (0, None)))


def aggregates_up_to(
    app: Application[UUID], wanted: Mapping[UUID, VersionRange]
) -> dict[UUID, Any]:
    """Several aggregates rebuilt, in one read, from their first event up to the version each
    range asks for (its start must be 0). An id with no such events is absent."""
    to_domain_event = app.mapper.to_domain_event
    found: dict[UUID, Any] = {}
    for aggregate_id, stored in select_events_of_many(app.recorder, wanted).items():
        aggregate: Any = None
        for stored_event in stored:
            event: Any = to_domain_event(stored_event)
            aggregate = event.mutate(aggregate)
        found[aggregate_id] = aggregate
    return found


class PostgresInboxRecorder(PostgresProcessRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        table = pool_table_name(self.events_table_name)
        self.check_identifier_length(table)
        self.pool_table = PostgresPoolTable(self.datastore, table)
        self.sql_create_statements.extend(self.pool_table.create_statements)
        # One look-up in the primary key per wanted aggregate, whatever the planner knows: as
        # a plain join, a table without statistics yet (just stocked, not analysed) was read
        # whole, a parallel sequential scan costing the database 10-20 ms per read of 256
        # certificates while every commit waited for the CPU. OFFSET 0 keeps the lateral
        # subquery from being flattened back into that join. The arrays go in binary (%b):
        # psycopg writes a few thousand ids as text in pure Python, four times slower.
        self.select_many_statement = self._statement(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state "
            "FROM unnest(%b::{id_type}[], %b::bigint[], %b::bigint[]) AS w(id, after, up_to) "
            "CROSS JOIN LATERAL (SELECT x.originator_id, x.originator_version, x.topic, x.state "
            "FROM {schema}.{table} AS x "
            "WHERE x.originator_id = w.id AND x.originator_version > w.after "
            "AND (w.up_to IS NULL OR x.originator_version <= w.up_to) OFFSET 0) AS e "
            "ORDER BY e.originator_id, e.originator_version",
            table=self.events_table_name,
            id_type=self.datastore.originator_id_type,
        )
        # The library's insert with its array of events in binary (%b): as text (its %s),
        # psycopg writes each event's state as escaped hex inside a quoted composite inside
        # an array literal, in pure Python: a third of the inbound store thread's time.
        self.insert_events_statement = self._statement(
            "INSERT INTO {schema}.{table} AS t "
            "(originator_id, originator_version, topic, state) "
            "SELECT originator_id, originator_version, topic, state "
            "FROM unnest(%b::{schema}.{stored_event_type}[]) RETURNING notification_id",
            table=self.events_table_name,
            stored_event_type=self.stored_event_type_name,
        )
        # The library's single-row upsert (see PostgresTrackingRecorder), for many rows: a row
        # comes back only where the position was new or beyond the recorded one.
        self.insert_trackings_statement = self._statement(
            "INSERT INTO {schema}.{table} AS t (application_name, notification_id) "
            "SELECT * FROM unnest(%s::text[], %s::bigint[]) "
            "ON CONFLICT (application_name) DO UPDATE "
            "SET notification_id = EXCLUDED.notification_id "
            "WHERE t.notification_id < EXCLUDED.notification_id "
            "RETURNING t.application_name",
            table=self.tracking_table_name,
        )

    def _statement(self, text: str, **names: str) -> Composed:
        """`text` with {schema} and the other {names} filled in as quoted identifiers."""
        identifiers = {key: Identifier(name) for key, name in names.items()}
        return SQL(text).format(schema=Identifier(self.datastore.schema), **identifiers)

    def create_table(self) -> None:
        """The library's set-up, one process at a time. It replaces its insert function and
        may create its type on every start, so processes starting at once (the parts of one
        deployment) met PostgreSQL's "tuple concurrently updated" and one of them died. A
        session lock on a connection of its own (the pool may hold only one) waits for the
        other's set-up; closing the connection releases it."""
        pool = self.datastore.pool
        assert isinstance(pool.kwargs, dict)  # the library passes one
        settings = {k: v for k, v in pool.kwargs.items() if k != "row_factory"}
        if pool.get_password_func is not None:  # as the pool connects (POSTGRES_GET_PASSWORD_TOPIC)
            settings["password"] = pool.get_password_func()
        timeout = max(1, round(pool.timeout))  # POSTGRES_CONNECT_TIMEOUT
        with psycopg.connect(**settings, connect_timeout=timeout, autocommit=True) as conn:
            # Another's set-up takes well under a second: a minute means it hangs.
            conn.execute("SET lock_timeout = '60s'")
            conn.execute(
                "SELECT pg_advisory_lock(hashtext(%s))",
                (f"gcp set-up {self.datastore.schema}.{self.events_table_name}",),
            )
            super().create_table()

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events_of_many(
        self, wanted: Mapping[UUID, VersionRange]
    ) -> dict[UUID, list[StoredEvent]]:
        if not wanted:
            return {}
        ids = list(wanted)
        params = (ids, [wanted[i][0] for i in ids], [wanted[i][1] for i in ids])
        found: dict[UUID, list[StoredEvent]] = {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_many_statement, params, prepare=True)
            for row in curs.fetchall():
                found.setdefault(row["originator_id"], []).append(
                    StoredEvent(
                        originator_id=row["originator_id"],
                        originator_version=row["originator_version"],
                        topic=row["topic"],
                        state=bytes(row["state"]),
                    )
                )
        return found

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's insert, in ONE round trip when no positions come with it (the HTTP
        API's and the timers' saves). The library sends the transaction's statements in a
        pipeline but syncs three times (after the insert, at COMMIT, leaving the pipeline);
        the events table's lock is held across the first two, and in a busy process each
        round trip also waits for the GIL. Here BEGIN, the library's own lock and notify
        statements, its insert and COMMIT go in one pipeline with one sync; a refused insert
        (a version already taken) leaves the block aborted, and it is rolled back before the
        IntegrityError is raised. Saves with positions keep the library's path: their
        positions must be checked before the commit."""
        if _trackings(kwargs) or not stored_events or self.datastore.enable_db_functions:
            inserted: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return inserted
        with self.datastore.get_connection() as conn:
            inserting = conn.cursor()
            try:
                with conn.pipeline():
                    conn.execute("BEGIN")
                    self._insert_stored_events(inserting, stored_events, **kwargs)
                    self._write_pool_rows(conn.cursor(), kwargs)
                    conn.execute("COMMIT")
            except BaseException:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.execute("ROLLBACK")
                raise
            try:
                return self._fetch_ids_after_insert_events(inserting, stored_events, **kwargs)
            finally:
                inserting.close()

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        self._insert_trackings(curs, _trackings(kwargs))
        super()._insert_events(curs, stored_events, **kwargs)
        self._write_pool_rows(curs.connection.cursor(), kwargs)

    def _write_pool_rows(self, curs: Cursor[DictRow], kwargs: dict[str, Any]) -> None:
        """After the events (their insert took the events table's lock, which orders every
        writer), on a cursor of its own: the library reads the new notification ids from the
        events' cursor afterwards."""
        with curs:
            self.pool_table.write(curs, _pool_rows(kwargs))

    def _insert_trackings(self, curs: Cursor[DictRow], trackings: Sequence[Tracking]) -> None:
        """A batch's positions (up to one per partition read) in ONE statement: each must be
        beyond the one recorded, as the library's single-row statement checks it, and any that
        is not makes the whole transaction fail with IntegrityError (a replayed position)."""
        names = [tracking.application_name for tracking in trackings]
        if (
            len(trackings) < 2
            or not self.datastore.single_row_tracking
            or len(set(names)) < len(names)
        ):
            # The library's statement, one position at a time (and its legacy table layout).
            for tracking in trackings:
                self._insert_tracking(curs, tracking=tracking)
            return
        ids = [tracking.notification_id for tracking in trackings]
        curs.execute(self.insert_trackings_statement, (names, ids), prepare=True)
        recorded = len(curs.fetchall())
        if recorded != len(trackings):
            msg = (
                f"Failed to record {len(trackings) - recorded} of {len(trackings)} trackings "
                f"(not beyond the recorded positions): {', '.join(names)}"
            )
            raise IntegrityError(msg)


class MemoryInboxRecorder(POPOProcessRecorder):
    def __init__(self) -> None:
        super().__init__()
        self.pool_table = MemoryPoolTable()

    def _assert_uniqueness(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._assert_uniqueness(stored_events, **kwargs)
        for tracking in _trackings(kwargs):
            self._assert_tracking_uniqueness(tracking)

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._update_table(stored_events, **kwargs)
        for tracking in _trackings(kwargs):
            self._insert_tracking(tracking)
        self.pool_table.write(_pool_rows(kwargs))
        return notification_ids
