"""The unit of work of one inbound batch: every aggregate the batch touches, loaded once and
changed in arrival order, and the dead letters it records; all saved in ONE transaction with
the batch's consumed positions (gcp_app.inbound.batches).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from gcp_app.dead_letters import DeadLetter
from gcp_app.errors import CertificateNotFound
from gcp_app.inbound.cache import AggregateCache
from gcp_app.inbound.messages import (
    ClientMessage,
    InboundMessage,
    PaymentMessage,
    SalesOrderMessage,
)
from gcp_app.recorders import VersionRange, select_events_of_many
from gcp_app.store import EventStore
from gcp_domain.cause import Cause
from gcp_domain.certificate import GiftCertificate
from gcp_domain.claims import NumberClaim, number_claim_id
from gcp_domain.errors import DomainError
from gcp_domain.numbers import CertificateNumber
from gcp_domain.order import PAYMENT_TYPES, SalesOrder, sales_order_id

# Rounds of reads that load a batch's aggregates up front (orders, number claims and named
# certificates; then what they point to; then the certificates of claims found last).
PREFETCH_ROUNDS: Final = 3


class BatchUnitOfWork:
    """The aggregates one batch touches, each loaded once (from the cache, caught up, or from
    the store); what changed is saved together with the batch's positions."""

    def __init__(self, store: EventStore, cache: AggregateCache) -> None:
        self._store = store
        self._cache = cache
        self._loaded: dict[UUID, Any] = {}
        self.dead_letters: list[DeadLetter] = []

    def _get(self, aggregate_id: UUID) -> Any:
        if aggregate_id not in self._loaded:
            found = self._cache.get(aggregate_id)
            if found is not None:
                found = self._caught_up(found)
            else:
                try:
                    found = self._store.repository.get(aggregate_id)
                except AggregateNotFoundError:
                    found = None  # Not remembered: it may be created elsewhere meanwhile.
            self._loaded[aggregate_id] = found
        return self._loaded[aggregate_id]

    def prefetch(self, messages: Iterable[InboundMessage]) -> None:
        """Loads, in one read per round instead of one per aggregate, what the messages will
        touch: their orders, the certificates they name, the claims of the numbers they name,
        then the certificates those point to. The same aggregates `_get` would load one by one
        (remembered ones caught up with what others stored since); anything not foreseen here
        is still loaded when asked for.

        What a remembered aggregate points to is read in the same round as it (its remembered
        copy says what that is): a round is then needed only for what was not remembered, or
        for what a caught-up copy points to anew. Every aggregate is still read (caught up)
        before it is used, as before; only fewer round trips carry the reads."""
        wanted: set[UUID] = set()
        for message in messages:
            wanted.update(_mentioned(message))
        for _ in range(PREFETCH_ROUNDS):
            wanted.difference_update(self._loaded)
            if not wanted:
                return
            self._add_remembered_references(wanted)
            self._load_many(wanted)
            found = [self._loaded[i] for i in wanted]
            wanted = set()
            for aggregate in found:
                wanted.update(_referenced(aggregate))

    def _add_remembered_references(self, wanted: set[UUID]) -> None:
        """Adds to `wanted` what the remembered copies of its aggregates point to, and so on
        (as far as the copies are remembered, within PREFETCH_ROUNDS)."""
        frontier: Iterable[UUID] = wanted
        for _ in range(PREFETCH_ROUNDS - 1):
            more: set[UUID] = set()
            for aggregate_id in frontier:
                remembered = self._cache.get(aggregate_id)
                if remembered is not None:
                    more.update(_referenced(remembered))
            more.difference_update(wanted, self._loaded)
            if not more:
                return
            wanted.update(more)
            frontier = more

    def _load_many(self, ids: Iterable[UUID]) -> None:
        remembered: dict[UUID, Any] = {}
        ranges: dict[UUID, VersionRange] = {}
        for aggregate_id in ids:
            found = self._cache.get(aggregate_id)
            if found is not None:
                remembered[aggregate_id] = found
            ranges[aggregate_id] = (found.version if found is not None else 0, None)
        stored = select_events_of_many(self._store.recorder, ranges)
        to_domain_event = self._store.mapper.to_domain_event
        for aggregate_id in ranges:
            aggregate = remembered.get(aggregate_id)
            for stored_event in stored.get(aggregate_id, ()):
                event: Any = to_domain_event(stored_event)
                aggregate = event.mutate(aggregate)
            self._loaded[aggregate_id] = aggregate

    def _caught_up(self, aggregate: Any) -> Any:
        """A remembered aggregate with what others stored since (HTTP commands and timers
        change certificates too). The version check at save time does not cover decisions that
        write nothing to the aggregate (a refusal, a duplicate, a dead letter), so they must
        never be taken on a stale copy."""
        stored: Any
        for stored in self._store.events.get(aggregate.id, gt=aggregate.version):
            aggregate = stored.mutate(aggregate)
        return aggregate

    def loaded(self) -> list[Any]:
        return [a for a in self._loaded.values() if a is not None]

    def touched(self) -> list[UUID]:
        """Every aggregate id this unit of work loaded (or created), found or not."""
        return list(self._loaded)

    def certificate(self, certificate_id: UUID) -> GiftCertificate:
        found = self.find_certificate(certificate_id)
        if found is None:
            raise CertificateNotFound("no such certificate")
        return found

    def find_certificate(self, certificate_id: UUID) -> GiftCertificate | None:
        found = self._get(certificate_id)
        return found if isinstance(found, GiftCertificate) else None

    def certificate_by_number(self, number: str | None) -> GiftCertificate | None:
        try:
            value = CertificateNumber.parse(number or "").value
        except DomainError:
            return None
        claim = self._get(number_claim_id(value))
        if not isinstance(claim, NumberClaim):
            return None
        return self.find_certificate(claim.certificate_id)

    def order(self, order_id: str, cause: Cause) -> SalesOrder:
        order = self._get(sales_order_id(order_id))
        if order is None:
            order = SalesOrder(order_id=order_id, cause=cause)
            self._loaded[order.id] = order
        assert isinstance(order, SalesOrder)
        return order

    def known_order(self, order_id: str) -> SalesOrder | None:
        order = self._get(sales_order_id(order_id))
        return order if isinstance(order, SalesOrder) else None

    def changed(self) -> list[Any]:
        touched = [a for a in self._loaded.values() if a is not None and a.pending_events]
        return [*touched, *self.dead_letters]

    def certificates(self) -> list[GiftCertificate]:
        return [a for a in self._loaded.values() if isinstance(a, GiftCertificate)]


def _mentioned(message: InboundMessage) -> list[UUID]:
    """The aggregates a message names directly (for UnitOfWork.prefetch)."""
    if isinstance(message, SalesOrderMessage):
        ids = [sales_order_id(message.order_id)]
        ids.extend(line.certificate_id for line in message.gift_certificates)
        ids.extend(line.certificate_id for line in message.refunds)
        ids.extend(_claim_ids(line.certificate_number for line in message.redemptions))
        return ids
    if isinstance(message, PaymentMessage):
        if message.event_type not in PAYMENT_TYPES:
            return []
        return [sales_order_id(message.order_id), *_claim_ids([message.certificate_number])]
    if isinstance(message, ClientMessage) and message.gift_certificate_notification:
        return [message.gift_certificate_notification.certificate_id]
    return []


def _referenced(aggregate: Any) -> list[UUID]:
    """The aggregates a loaded one points to (for UnitOfWork.prefetch)."""
    if isinstance(aggregate, NumberClaim):
        return [aggregate.certificate_id]
    if isinstance(aggregate, SalesOrder):
        ids: list[UUID] = []
        for certificate_id in (*aggregate.lines, *aggregate.refund_lines):
            try:
                ids.append(UUID(certificate_id))
            except ValueError:
                continue
        numbers: list[str | None] = [number for number, _ in aggregate.redemption_lines]
        numbers.extend(p.certificate_number for p in aggregate.payments.values())
        ids.extend(_claim_ids(numbers))
        return ids
    return []


def _claim_ids(numbers: Iterable[str | None]) -> list[UUID]:
    ids = []
    for number in numbers:
        if number:
            try:
                ids.append(number_claim_id(CertificateNumber.parse(number).value))
            except DomainError:
                continue
    return ids
