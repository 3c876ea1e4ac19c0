"""A signal that the store has recorded something new, so that a follower of the notification
log (the relay) wakes at once instead of at its next poll."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from gcp_app.store import EventStore, discard_dead_connections

logger = logging.getLogger("gcp.relay")

# After the LISTEN connection is lost, the next try waits this long, doubling up to the most.
RELISTEN_MIN: Final = 0.5
RELISTEN_MAX: Final = 10.0


@contextmanager
def change_signal(store: EventStore) -> Iterator[threading.Event]:
    """An event set whenever the store records something new: at once for what this process
    records; for other processes' records, on PostgreSQL the insert's NOTIFY (LISTEN), elsewhere
    the store's subscription, and on SQLite nothing (the relay polls)."""
    woken = threading.Event()
    stop_hearing = store.on_recorded(woken.set)  # this process's own commits: at once
    try:
        with _from_the_store(store, woken):
            yield woken
    finally:
        stop_hearing()


@contextmanager
def _from_the_store(store: EventStore, woken: threading.Event) -> Iterator[None]:
    """What other processes record: LISTEN on PostgreSQL, the subscription of a store that has
    one, nothing on SQLite (the relay polls)."""
    recorder = store.recorder
    if isinstance(recorder, PostgresApplicationRecorder):
        with _listening(recorder, woken):
            yield
        return
    try:
        subscription = recorder.subscribe(gt=recorder.max_notification_id())
    except NotImplementedError:  # SQLite: poll
        yield
        return

    def follow() -> None:
        try:
            with subscription:
                for _ in subscription:
                    woken.set()
        except Exception:
            logger.exception("the store's subscription failed; polling instead")

    with _in_background(follow, stop=subscription.stop):
        yield


@contextmanager
def _listening(recorder: PostgresApplicationRecorder, woken: threading.Event) -> Iterator[None]:
    """Sets `woken` on every NOTIFY of the recorder's inserts. Only the signal: the library's
    subscription would also read every new notification (their states too) a second time in
    this process, just to say that there are some; the relay reads them anyway."""
    stopped = threading.Event()
    channel = SQL("LISTEN {0}").format(Identifier(recorder.channel_name))

    lost = False  # the connection was lost and is not listened on again yet

    def listen_once() -> None:
        nonlocal lost
        with recorder.datastore.get_connection() as conn:
            conn.execute(channel)
            if lost:
                lost = False
                logger.info("listening for new changes again")
            woken.set()  # what was stored while nobody listened
            try:
                while not stopped.is_set():
                    # At most 0.1 s per wait, so that a stop is seen soon.
                    for _ in conn.notifies(timeout=0.1, stop_after=1):
                        woken.set()
            finally:
                conn.execute(SQL("UNLISTEN *"))  # The connection goes back to the pool.

    def listen() -> None:
        """Listens until stopped. A lost connection (the store restarted) is listened on again
        after a backoff, the relay polling meanwhile; each loss is logged once."""
        nonlocal lost
        backoff = RELISTEN_MIN
        while not stopped.is_set():
            try:
                listen_once()
                return
            except Exception:
                if not lost:
                    lost = True
                    logger.warning(
                        "listening for new changes failed; polling until it works again",
                        exc_info=True,
                    )
                    backoff = RELISTEN_MIN
                stopped.wait(backoff)
                backoff = min(backoff * 2, RELISTEN_MAX)
                discard_dead_connections(recorder)

    with _in_background(listen, stop=stopped.set):
        yield


@contextmanager
def _in_background(target: Callable[[], None], *, stop: Callable[[], None]) -> Iterator[None]:
    """Runs `target` in a daemon thread for as long as the block runs; `stop` tells it to end."""
    thread = threading.Thread(target=target, name="gcp-relay-wake-up", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop()
        thread.join(timeout=5)
