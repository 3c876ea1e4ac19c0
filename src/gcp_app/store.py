"""The event store: the eventsourcing library's Application, configured for GCP.

Everything here is about the library, nothing about the business: the store chosen by
`GCP_DATABASE_URL` (gcp_app.persistence), a process recorder that takes the consumed positions
with the effects they caused (gcp_app.recorders), the `Cause` transcoding, and a faster `save`.
The business operations are in gcp_app.use_cases; this is where they are stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import BaseAggregate
from eventsourcing.persistence import (
    JSONTranscoder,
    ProcessRecorder,
    Recording,
    Transcoding,
)
from eventsourcing.popo import POPOFactory
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import Environment

from gcp_app.errors import CertificateNotFound, PoolNotFound
from gcp_app.persistence import event_store_env
from gcp_app.pool_rows import POOL_ROWS, PoolRow, row_of
from gcp_app.pool_tables import PoolTable
from gcp_app.recorders import MemoryInboxRecorder, aggregates_of_many
from gcp_app.settings import Settings
from gcp_domain.cause import Cause
from gcp_domain.certificate import GiftCertificate
from gcp_domain.pool import CertificatePool, pool_id

logger = logging.getLogger("gcp.store")


class CauseAsList(Transcoding):
    type = Cause
    name = "cause"

    def encode(self, obj: Cause) -> list[str]:
        return [obj.actor, obj.causation_id, obj.correlation_id]

    def decode(self, data: list[str]) -> Cause:
        actor, causation_id, correlation_id = data
        return Cause(actor, causation_id, correlation_id)


class EventStore(Application[UUID]):
    name = "gcp"

    def __init__(self, settings: Settings, env: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        # Called after each recording of this process (gcp_app.change_signal: the relay wakes
        # at once, not at its next poll or the database's NOTIFY).
        self._recorded_listeners: list[Callable[[], None]] = []
        self._rows_listeners: list[Callable[[Sequence[PoolRow]], None]] = []
        super().__init__(env={**event_store_env(settings), **(env or {})})

    def on_recorded(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Calls `listener` after every recording this process commits; returns the function
        that stops it. A listener must be quick and must not raise (it runs on the writer)."""
        self._recorded_listeners.append(listener)
        return lambda: self._recorded_listeners.remove(listener)

    def on_rows_recorded(self, listener: Callable[[Sequence[PoolRow]], None]) -> None:
        """Calls `listener` with the pool index's rows of every recording this process
        commits (gcp_app.shelf: a copy read ahead that this process changed is stale)."""
        self._rows_listeners.append(listener)

    @property
    def pool_table(self) -> PoolTable:
        """The pool index's table, written by the recorder with the events."""
        table: PoolTable = getattr(self.recorder, "pool_table")  # noqa: B009
        return table

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        """The library's environment, without our own GCP_* settings. eventsourcing reads
        `<APP NAME>_<KEY>` before `<KEY>`, and this application is named "gcp": our
        GCP_CIPHER_KEY would otherwise switch on its encryption of every stored event (and
        any later GCP_* setting could collide likewise). What the library needs is passed to it
        explicitly, unprefixed (gcp_app.persistence)."""
        environment = super().construct_env(name, env)
        prefix = f"{name.upper()}_"
        for key in [k for k in environment if k.startswith(prefix)]:
            del environment[key]
        return environment

    def construct_recorder(self) -> ProcessRecorder:
        """A process recorder: consumed positions are recorded with the effects they caused."""
        if isinstance(self.factory, POPOFactory):
            return MemoryInboxRecorder()
        return self.factory.process_recorder()

    @property
    def inbox(self) -> ProcessRecorder:
        assert isinstance(self.recorder, ProcessRecorder)
        return self.recorder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(CauseAsList())

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's `save` (9.5.6: collect, record, snapshot, notify), with the pending
        events of our aggregates collected directly. The library asks of every object
        `isinstance(obj, DomainEventProtocol)` and then `CollectEventsProtocol`: runtime
        protocol checks that Python 3.11 recomputes on every call, about 5% of the consumer's
        CPU for a batch of 2,000 messages. An aggregate (`BaseAggregate`) has no
        `originator_id`, so the library would take the same branch for it; events and anything
        else still go through the library's own `collect_events`, in the order given."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        rows = [row_of(obj) for obj in objs if isinstance(obj, GiftCertificate)]
        if rows:
            processing_event.saved_kwargs[POOL_ROWS] = rows
        for obj in objs:
            if isinstance(obj, BaseAggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            else:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        return self.record_collected(processing_event)

    def record_collected(self, collected: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """The second half of `save`: records events collected earlier, with the positions in
        `collected.saved_kwargs` (trackings), in one transaction. The pipelined consumer
        collects a batch's events on its own thread and records them on a writer thread while
        the aggregates already take the next batch's changes: `collected.aggregates` is then
        empty, which only the library's repository cache and snapshots would read, and this
        application uses neither. The pool index's rows go in `saved_kwargs[POOL_ROWS]` (`save`
        takes them from the certificates)."""
        recordings = self._record(collected)
        for listener in self._recorded_listeners:
            listener()
        rows: Sequence[PoolRow] = collected.saved_kwargs.get(POOL_ROWS, ())
        if rows:
            for rows_listener in self._rows_listeners:
                rows_listener(rows)
        self._take_snapshots(collected)
        self._notify(recordings)
        self.notify(collected.events)  # Deprecated hook, called as the library does.
        return recordings

    def certificate(self, certificate_id: UUID) -> GiftCertificate:
        """The certificate as stored now; CertificateNotFound if there is none."""
        try:
            certificate: object = self.repository.get(certificate_id)
        except AggregateNotFoundError:
            raise CertificateNotFound("no such certificate") from None
        if not isinstance(certificate, GiftCertificate):
            raise CertificateNotFound("no such certificate")
        return certificate

    def certificates(self, ids: Iterable[UUID]) -> dict[UUID, GiftCertificate]:
        """Several certificates in one read (one query on PostgreSQL); unknown ids are absent."""
        return {
            certificate_id: aggregate
            for certificate_id, aggregate in aggregates_of_many(self, ids).items()
            if isinstance(aggregate, GiftCertificate)
        }

    def find_pool(self, name: str) -> CertificatePool | None:
        try:
            pool: object = self.repository.get(pool_id(name))
        except AggregateNotFoundError:
            return None
        assert isinstance(pool, CertificatePool)
        return pool

    def pool(self, name: str) -> CertificatePool:
        """The pool named so; PoolNotFound if there is none."""
        pool = self.find_pool(name)
        if pool is None:
            raise PoolNotFound(f"no pool named {name!r}")
        return pool


def discard_dead_connections(recorder: object) -> None:
    """Drops the PostgreSQL pool's connections that died (the store went away meanwhile): the
    pool does not ping a connection before lending it (gcp_app.persistence), so after an
    outage the next users would get dead ones first. Nothing to do on other stores; a store
    still away is left for the next try to find."""
    datastore = getattr(recorder, "datastore", None)
    if not isinstance(datastore, PostgresDatastore):
        return
    try:
        datastore.pool.check()
    except Exception:
        logger.debug("could not check the pool's connections", exc_info=True)
