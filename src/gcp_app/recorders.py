"""Process recorders that take several tracking positions in one transaction.

The inbound consumer commits a whole poll (messages from several topic-partitions) in one
database transaction with its effects. The library's process recorders track one position per
transaction; these take `trackings=[...]` too, each (source, offset) refused if not beyond the
recorded one, so a message already applied can never be applied again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.popo import POPOProcessRecorder
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteCursor, SQLiteProcessRecorder
from psycopg import Cursor
from psycopg.rows import DictRow


def _trackings(kwargs: dict[str, Any]) -> Sequence[Tracking]:
    trackings: Sequence[Tracking] = kwargs.get("trackings", ())
    return trackings


class SQLiteInboxRecorder(SQLiteProcessRecorder):
    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        returning = super()._insert_events(c, stored_events, **kwargs)
        for tracking in _trackings(kwargs):
            self._insert_tracking(c, tracking)
        return returning


class PostgresInboxRecorder(PostgresProcessRecorder):
    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        for tracking in _trackings(kwargs):
            self._insert_tracking(curs, tracking=tracking)
        super()._insert_events(curs, stored_events, **kwargs)


class MemoryInboxRecorder(POPOProcessRecorder):
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
        return notification_ids
