# ruff: noqa: S608 -- the statements name our own table and columns; every value is a parameter
"""The pool index as a table beside the events, on PostgreSQL and on SQLite.

The recorders (gcp_app.recorders) write a certificate's row in the transaction that stores its
events (`write`); everything else here reads it, or parks a deadline. Every question is
answered by an index, so none costs the size of the store: available candidates from a random
point of the (pool, state, id) index, "are there at least N available" by counting at most N,
due deadlines from a partial index of the live ones. Only a pool's full status counts its
certificates (the operator's and the metrics' question, not a request's).

A row is written only by a newer version of its certificate (`WHERE version < EXCLUDED`), so
a rebuild racing the writers (gcp_app.pool_index) never puts an older state back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final, Protocol
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from gcp_app.pool_rows import Deadline, DeadlineKind, PoolRow, latest_rows
from gcp_domain.vocabulary import CertificateState

_COLUMNS: Final = {
    DeadlineKind.RESERVATION: ("reserved_until", "reservation_order", "reservation_parked"),
    DeadlineKind.EXPIRY: ("expires_at", "expiry_order", "expiry_parked"),
}
# The distinct pools, one look-up in the index each (a "loose index scan"), not a scan of all.
_POOLS: Final = (
    "WITH RECURSIVE p(pool) AS ("
    "SELECT min(pool) FROM {t} UNION ALL "
    "SELECT (SELECT min(pool) FROM {t} WHERE pool > p.pool) FROM p WHERE p.pool IS NOT NULL) "
    "SELECT pool FROM p WHERE pool IS NOT NULL"
)
_AVAILABLE: Final = CertificateState.AVAILABLE.value
# A connection lost or refused: the library's recorders retry such reads likewise.
_retry = retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)


class PoolTable(Protocol):
    """What the pool index asks of its table (gcp_app.pool_index)."""

    def candidates(self, pool: str, start: UUID, count: int) -> list[UUID]:
        """Up to `count` available certificates of `pool`, from `start` on in id order."""

    def available_up_to(self, pool: str, limit: int) -> int:
        """How many certificates of `pool` are available, counting at most `limit`."""

    def state_counts(self, pool: str) -> dict[CertificateState, int]: ...

    def pools(self) -> list[str]: ...

    def due(self, kind: DeadlineKind, now: datetime, limit: int) -> list[Deadline]:
        """Up to `limit` deadlines at or before `now`, not parked, earliest first."""

    def park(self, kind: DeadlineKind, deadline: Deadline) -> None:
        """Leaves `deadline` out of `due` until its certificate's next change."""

    def pending(self, kind: DeadlineKind) -> int: ...

    def is_empty(self) -> bool: ...

    def write_alone(self, rows: Sequence[PoolRow]) -> None:
        """Writes rows in a transaction of their own (a rebuild)."""


class PostgresPoolTable:
    def __init__(self, datastore: PostgresDatastore, table_name: str) -> None:
        self._datastore = datastore
        self.table_name = table_name
        t = Identifier(datastore.schema or "public", table_name)
        self.create_statements: list[Composed] = [
            SQL(
                "CREATE TABLE IF NOT EXISTS {t} ("
                "certificate_id uuid PRIMARY KEY, version bigint NOT NULL, "
                "pool text NOT NULL, state text NOT NULL, "
                "reserved_until timestamptz, reservation_order text, "
                "reservation_parked boolean NOT NULL DEFAULT false, "
                "expires_at timestamptz, expiry_order text, "
                "expiry_parked boolean NOT NULL DEFAULT false)"
            ).format(t=t),
            SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} (pool, state, certificate_id)").format(
                i=Identifier(f"{table_name}_by_state"), t=t
            ),
            *(
                SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} ({at}) WHERE NOT {parked}").format(
                    i=Identifier(f"{table_name}_{kind}"),
                    t=t,
                    at=Identifier(at),
                    parked=Identifier(parked),
                )
                for kind, (at, _, parked) in _COLUMNS.items()
            ),
        ]
        # Every array in binary (%b): psycopg writes text arrays in pure Python, much slower
        # for a batch's thousand rows.
        self._write = SQL(
            "INSERT INTO {t} AS t (certificate_id, version, pool, state, reserved_until, "
            "reservation_order, expires_at, expiry_order) "
            "SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::text[], "
            "%b::timestamptz[], %b::text[], %b::timestamptz[], %b::text[]) "
            "ON CONFLICT (certificate_id) DO UPDATE SET version = EXCLUDED.version, "
            "state = EXCLUDED.state, reserved_until = EXCLUDED.reserved_until, "
            "reservation_order = EXCLUDED.reservation_order, reservation_parked = false, "
            "expires_at = EXCLUDED.expires_at, expiry_order = EXCLUDED.expiry_order, "
            "expiry_parked = false WHERE t.version < EXCLUDED.version"
        ).format(t=t)
        self._candidates = [
            SQL(
                "SELECT certificate_id FROM {t} WHERE pool = %s AND state = %s "
                f"AND certificate_id {op} %s ORDER BY certificate_id LIMIT %s"
            ).format(t=t)
            for op in (">=", "<")
        ]
        self._available_up_to = SQL(
            "SELECT count(*) AS n FROM (SELECT 1 FROM {t} WHERE pool = %s AND state = %s "
            "LIMIT %s) AS a"
        ).format(t=t)
        self._state_counts = SQL(
            "SELECT state, count(*) AS n FROM {t} WHERE pool = %s GROUP BY state"
        ).format(t=t)
        self._pools = SQL(_POOLS).format(t=t)
        self._due = {
            kind: SQL(
                "SELECT certificate_id, {at} AS at, {order} AS order_id, version FROM {t} "
                "WHERE {at} <= %s AND NOT {parked} ORDER BY {at} LIMIT %s"
            ).format(t=t, at=Identifier(at), order=Identifier(order), parked=Identifier(parked))
            for kind, (at, order, parked) in _COLUMNS.items()
        }
        self._park = {
            kind: SQL(
                "UPDATE {t} SET {parked} = true WHERE certificate_id = %s AND version = %s"
            ).format(t=t, parked=Identifier(parked))
            for kind, (_, _, parked) in _COLUMNS.items()
        }
        self._pending = {
            kind: SQL(
                "SELECT count(*) AS n FROM {t} WHERE {at} IS NOT NULL AND NOT {parked}"
            ).format(t=t, at=Identifier(at), parked=Identifier(parked))
            for kind, (at, _, parked) in _COLUMNS.items()
        }
        self._any = SQL("SELECT EXISTS (SELECT 1 FROM {t}) AS found").format(t=t)

    def write(self, curs: Cursor[DictRow], rows: Sequence[PoolRow]) -> None:
        """Writes the rows in the caller's transaction (the one storing their events)."""
        if not rows:
            return
        # In id order: two transactions writing the same rows lock them in the same order.
        ordered = sorted(latest_rows(rows), key=lambda row: row.certificate_id)
        columns = (
            [r.certificate_id for r in ordered],
            [r.version for r in ordered],
            [r.pool for r in ordered],
            [r.state.value for r in ordered],
            [r.reserved_until for r in ordered],
            [r.reservation_order for r in ordered],
            [r.expires_at for r in ordered],
            [r.expiry_order for r in ordered],
        )
        curs.execute(self._write, columns, prepare=True)

    @_retry
    def write_alone(self, rows: Sequence[PoolRow]) -> None:
        with self._datastore.transaction(commit=True) as curs:
            self.write(curs, rows)

    def candidates(self, pool: str, start: UUID, count: int) -> list[UUID]:
        found = self._ids(self._candidates[0], (pool, _AVAILABLE, start, count))
        if len(found) < count:
            found += self._ids(self._candidates[1], (pool, _AVAILABLE, start, count - len(found)))
        return found

    def available_up_to(self, pool: str, limit: int) -> int:
        return int(self._one(self._available_up_to, (pool, _AVAILABLE, limit))["n"])

    def state_counts(self, pool: str) -> dict[CertificateState, int]:
        return {
            CertificateState(row["state"]): int(row["n"])
            for row in self._all(self._state_counts, (pool,))
        }

    def pools(self) -> list[str]:
        return [str(row["pool"]) for row in self._all(self._pools, ())]

    def due(self, kind: DeadlineKind, now: datetime, limit: int) -> list[Deadline]:
        return [
            Deadline(
                row["certificate_id"], row["at"].astimezone(UTC), row["order_id"], row["version"]
            )
            for row in self._all(self._due[kind], (now, limit))
        ]

    @_retry
    def park(self, kind: DeadlineKind, deadline: Deadline) -> None:
        with self._datastore.get_connection() as conn:
            conn.execute(self._park[kind], (deadline.certificate_id, deadline.version))

    def pending(self, kind: DeadlineKind) -> int:
        return int(self._one(self._pending[kind], ())["n"])

    def is_empty(self) -> bool:
        return not self._one(self._any, ())["found"]

    def _ids(self, statement: Composed, params: tuple[Any, ...]) -> list[UUID]:
        return [row["certificate_id"] for row in self._all(statement, params)]

    def _one(self, statement: Composed, params: tuple[Any, ...]) -> DictRow:
        rows: list[DictRow] = self._all(statement, params)
        assert len(rows) == 1
        return rows[0]

    @_retry
    def _all(self, statement: Composed, params: tuple[Any, ...]) -> list[DictRow]:
        with self._datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            return curs.fetchall()


def _micros(at: datetime | None) -> int | None:
    """SQLite has no time type: an instant as microseconds since the epoch, which sort."""
    if at is None:
        return None
    delta = at - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _instant(micros: int) -> datetime:
    return datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000)


class SQLitePoolTable:
    """The same table on SQLite: ids as hex text, instants as microseconds (both sort)."""

    def __init__(self, datastore: SQLiteDatastore, table_name: str) -> None:
        self._datastore = datastore
        self.table_name = t = table_name
        self._any = f"SELECT 1 FROM {t} LIMIT 1"
        self.create_statements = [
            f"CREATE TABLE IF NOT EXISTS {t} ("
            "certificate_id TEXT PRIMARY KEY, version INTEGER NOT NULL, "
            "pool TEXT NOT NULL, state TEXT NOT NULL, "
            "reserved_until INTEGER, reservation_order TEXT, "
            "reservation_parked INTEGER NOT NULL DEFAULT 0, "
            "expires_at INTEGER, expiry_order TEXT, "
            "expiry_parked INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID",
            f"CREATE INDEX IF NOT EXISTS {t}_by_state ON {t} (pool, state, certificate_id)",
            *(
                f"CREATE INDEX IF NOT EXISTS {t}_{kind} ON {t} ({at}) WHERE NOT {parked}"
                for kind, (at, _, parked) in _COLUMNS.items()
            ),
        ]
        self._write = (
            f"INSERT INTO {t} (certificate_id, version, pool, state, reserved_until, "
            "reservation_order, expires_at, expiry_order) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (certificate_id) DO UPDATE SET version = excluded.version, "
            "state = excluded.state, reserved_until = excluded.reserved_until, "
            "reservation_order = excluded.reservation_order, reservation_parked = 0, "
            "expires_at = excluded.expires_at, expiry_order = excluded.expiry_order, "
            "expiry_parked = 0 WHERE version < excluded.version"
        )
        self._candidates = [
            f"SELECT certificate_id FROM {t} WHERE pool = ? AND state = ? "
            f"AND certificate_id {op} ? ORDER BY certificate_id LIMIT ?"
            for op in (">=", "<")
        ]
        self._available_up_to = (
            f"SELECT count(*) FROM (SELECT 1 FROM {t} WHERE pool = ? AND state = ? LIMIT ?)"
        )
        self._state_counts = f"SELECT state, count(*) FROM {t} WHERE pool = ? GROUP BY state"
        self._pools = _POOLS.format(t=t)
        self._due = {
            kind: f"SELECT certificate_id, {at}, {order}, version FROM {t} "
            f"WHERE {at} <= ? AND NOT {parked} ORDER BY {at} LIMIT ?"
            for kind, (at, order, parked) in _COLUMNS.items()
        }
        self._park = {
            kind: f"UPDATE {t} SET {parked} = 1 WHERE certificate_id = ? AND version = ?"
            for kind, (_, _, parked) in _COLUMNS.items()
        }
        self._pending = {
            kind: f"SELECT count(*) FROM {t} WHERE {at} IS NOT NULL AND NOT {parked}"
            for kind, (at, _, parked) in _COLUMNS.items()
        }

    def write(self, c: SQLiteCursor, rows: Sequence[PoolRow]) -> None:
        c.executemany(
            self._write,
            [
                (
                    r.certificate_id.hex,
                    r.version,
                    r.pool,
                    r.state.value,
                    _micros(r.reserved_until),
                    r.reservation_order,
                    _micros(r.expires_at),
                    r.expiry_order,
                )
                for r in latest_rows(rows)
            ],
        )

    def write_alone(self, rows: Sequence[PoolRow]) -> None:
        with self._datastore.transaction(commit=True) as c:
            self.write(c, rows)

    def candidates(self, pool: str, start: UUID, count: int) -> list[UUID]:
        found = self._all(self._candidates[0], (pool, _AVAILABLE, start.hex, count))
        if len(found) < count:
            found += self._all(
                self._candidates[1], (pool, _AVAILABLE, start.hex, count - len(found))
            )
        return [UUID(row[0]) for row in found]

    def available_up_to(self, pool: str, limit: int) -> int:
        return int(self._all(self._available_up_to, (pool, _AVAILABLE, limit))[0][0])

    def state_counts(self, pool: str) -> dict[CertificateState, int]:
        return {
            CertificateState(state): int(n) for state, n in self._all(self._state_counts, (pool,))
        }

    def pools(self) -> list[str]:
        return [str(row[0]) for row in self._all(self._pools, ())]

    def due(self, kind: DeadlineKind, now: datetime, limit: int) -> list[Deadline]:
        return [
            Deadline(UUID(certificate_id), _instant(at), order_id, version)
            for certificate_id, at, order_id, version in self._all(
                self._due[kind], (_micros(now), limit)
            )
        ]

    def park(self, kind: DeadlineKind, deadline: Deadline) -> None:
        with self._datastore.transaction(commit=True) as c:
            c.execute(self._park[kind], (deadline.certificate_id.hex, deadline.version))

    def pending(self, kind: DeadlineKind) -> int:
        return int(self._all(self._pending[kind], ())[0][0])

    def is_empty(self) -> bool:
        return not self._all(self._any, ())

    def _all(self, statement: str, params: tuple[Any, ...]) -> list[Any]:
        with self._datastore.transaction(commit=False) as c:
            c.execute(statement, params)
            return list(c.fetchall())
