"""Matching inbound facts into certificate changes, exactly once, a batch per transaction.

A batch of consumed messages (one poll) is handled in one unit of work: every aggregate it
touches is loaded once and changed in arrival order, then everything is saved in ONE
transaction together with the consumed positions (`trackings`). A crash before the commit
applies nothing; after it, the positions say so and nothing is applied again. A message the
service cannot act on becomes a dead letter in that same transaction.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final
from uuid import NAMESPACE_URL, UUID, uuid5

import attrs
from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.persistence import IntegrityError, Tracking

from gcp_app.dead_letters import DeadLetter
from gcp_app.errors import ConcurrentUpdate
from gcp_app.messages import (
    ClientMessage,
    InboundMessage,
    PaymentMessage,
    SalesOrderMessage,
)
from gcp_app.pool_index import Observation, observation_of
from gcp_app.recorders import VersionRange, select_events_of_many
from gcp_domain.cause import Cause
from gcp_domain.certificate import GiftCertificate
from gcp_domain.certificate_values import Recipient
from gcp_domain.claims import NumberClaim, number_claim_id
from gcp_domain.errors import DomainError
from gcp_domain.money import Money
from gcp_domain.numbers import CertificateNumber
from gcp_domain.order import (
    CANCEL,
    DONE,
    ISSUE,
    PAYMENT_TYPES,
    REDEEM,
    REFUND,
    REFUND_COMPLETED,
    REFUND_FAILED,
    REFUND_PENDING,
    REFUSED,
    RELEASE,
    REVERSE,
    CancelDue,
    CertificateLine,
    Due,
    IssueDue,
    RedemptionDue,
    RefundStepDue,
    ReleaseDue,
    ReversalDue,
    SalesOrder,
    sales_order_id,
)
from gcp_domain.vocabulary import NotificationChannel, RejectionReason

if TYPE_CHECKING:
    from gcp_app.application import GiftCertificates

NOTIFICATION_NAMESPACE: Final = uuid5(NAMESPACE_URL, "urn:gcp:notification")
INBOX_PREFIX: Final = "inbox:"
# Rounds of reads that load a batch's aggregates up front (orders, number claims and named
# certificates; then what they point to; then the certificates of claims found last).
PREFETCH_ROUNDS: Final = 3
# Rounds of `due()` per message: an effect can make another due (a redemption applied lets a
# parked reversal of it go), never more than a couple of times.
SETTLE_ROUNDS: Final = 4
# Redoes of a single message that keeps meeting concurrent writers before the batch fails (the
# consumer then retries it after a backoff).
CONFLICT_RETRIES: Final = 4


class Outcome(StrEnum):
    APPLIED = "applied"
    IGNORED = "ignored"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead-lettered"
    ALREADY_CONSUMED = "already-consumed"


@attrs.frozen
class Problem:
    """Why a message cannot be used: a stable code and a sentence (never a CVC)."""

    code: str
    reason: str


@attrs.frozen
class Envelope:
    """One consumed message: where it was read, its bytes, and what it decoded to
    (`message`), or why it could not be decoded (`problem`); neither: not about certificates."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    message: InboundMessage | None = None
    problem: Problem | None = None
    message_id: str | None = None  # read even from a message that could not be decoded

    @property
    def source(self) -> str:
        return inbox_source(self.topic, self.partition)


@attrs.frozen
class Handled:
    envelope: Envelope
    outcome: Outcome
    problem: Problem | None = None


@attrs.frozen
class Decided:
    """A batch decided on the consumer's thread, to be stored (`Matcher.store`) on another.

    `collected` holds the batch's events, taken from the aggregates when it was decided (the
    copies take the next batch's changes before this one is stored), and its positions;
    None when every record was consumed already. `observations` are what the pool index learns
    once it is stored; `pinned` the cached copies held until then."""

    envelopes: Sequence[Envelope]
    handled: list[Handled]
    collected: ProcessingEvent[UUID] | None
    observations: list[Observation]
    pinned: list[UUID]


def inbox_source(topic: str, partition: int) -> str:
    return f"{INBOX_PREFIX}{topic}/{partition}"


def notification_id_for(certificate_id: UUID, attempt: int) -> str:
    """Deterministic, so that re-running a batch after a crash opens the same request."""
    return str(uuid5(NOTIFICATION_NAMESPACE, f"{certificate_id}/{attempt}"))


class Refusal(Exception):
    """A message the service cannot act on: it becomes a dead letter."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.problem = Problem(code, reason)


class AggregateCache:
    """Aggregates as the last committed batch left them, so that a hot certificate or order is
    not read again for every batch. Safe because a remembered copy is caught up with what others
    stored since before it is used, and every change a batch makes is a write that the store
    checks against the version: if another writer got there first, the save fails, the copies
    the batch touched are dropped and the batch is redone from the store.

    Pinned copies (`pin`: a pipelined batch being stored) are caught up too. One the batch
    changed is ahead of the store: a rival can have stored past its version only by storing
    the versions the batch is about to store, so that store fails and everything decided on
    the copy is void (`Matcher.reset`). One it only read is caught up like any other."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[UUID, Any] = OrderedDict()
        # Copies of a batch decided but not yet stored (pipelined): held whatever the size, so
        # that the next batch finds them here, never in the store, where they are not yet.
        self._pinned: dict[UUID, Any] = {}
        self._pins: Counter[UUID] = Counter()

    def get(self, aggregate_id: UUID) -> Any:
        found = self._items.get(aggregate_id)
        if found is not None:
            self._items.move_to_end(aggregate_id)
            return found
        return self._pinned.get(aggregate_id)

    def keep(self, aggregates: Iterable[Any]) -> None:
        for aggregate in aggregates:
            self._items[aggregate.id] = aggregate
            self._items.move_to_end(aggregate.id)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def pin(self, aggregates: Iterable[Any]) -> list[UUID]:
        """Holds the copies until `unpin` (a batch's may be pinned again by the next)."""
        pinned = []
        for aggregate in aggregates:
            self._pinned[aggregate.id] = aggregate
            self._pins[aggregate.id] += 1
            pinned.append(aggregate.id)
        return pinned

    def unpin(self, aggregate_ids: Iterable[UUID]) -> None:
        for aggregate_id in aggregate_ids:
            if aggregate_id not in self._pins:
                continue  # forgotten meanwhile
            self._pins[aggregate_id] -= 1
            if self._pins[aggregate_id] <= 0:
                del self._pins[aggregate_id]
                self._pinned.pop(aggregate_id, None)

    @property
    def pinned(self) -> int:
        return len(self._pinned)

    def forget(self, aggregate_ids: Iterable[UUID]) -> None:
        for aggregate_id in aggregate_ids:
            self._items.pop(aggregate_id, None)
            self._pinned.pop(aggregate_id, None)
            self._pins.pop(aggregate_id, None)

    def clear(self) -> None:
        self._items.clear()
        self._pinned.clear()
        self._pins.clear()


class UnitOfWork:
    """The aggregates one batch touches, each loaded once; what changed is saved together."""

    def __init__(self, app: GiftCertificates, cache: AggregateCache) -> None:
        self._app = app
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
                    found = self._app.repository.get(aggregate_id)
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
        stored = select_events_of_many(self._app.recorder, ranges)
        to_domain_event = self._app.mapper.to_domain_event
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
        for stored in self._app.events.get(aggregate.id, gt=aggregate.version):
            aggregate = stored.mutate(aggregate)
        return aggregate

    def loaded(self) -> list[Any]:
        return [a for a in self._loaded.values() if a is not None]

    def touched(self) -> list[UUID]:
        """Every aggregate id this unit of work loaded (or created), found or not."""
        return list(self._loaded)

    def certificate(self, certificate_id: UUID) -> GiftCertificate | None:
        found = self._get(certificate_id)
        return found if isinstance(found, GiftCertificate) else None

    def certificate_by_number(self, number: str | None) -> GiftCertificate | None:
        try:
            value = CertificateNumber.parse(number or "").value
        except DomainError:
            return None
        claim = self._get(number_claim_id(value))
        return self.certificate(claim.certificate_id) if isinstance(claim, NumberClaim) else None

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


class Matcher:
    """Handles batches of consumed messages for one application."""

    def __init__(self, app: GiftCertificates, *, cache_size: int | None = None) -> None:
        """`cache_size`: aggregates kept between batches (default: GCP_MATCHER_CACHE_SIZE)."""
        self.app = app
        self._positions: dict[str, int | None] = {}
        self.conflicts = 0  # attempts redone after meeting a concurrent writer
        self._cache = AggregateCache(
            app.settings.matcher_cache_size if cache_size is None else cache_size
        )

    def position(self, topic: str, partition: int) -> int | None:
        """The last offset of (topic, partition) whose effects are recorded (None: none yet)."""
        return self.app.inbox.max_tracking_id(inbox_source(topic, partition))

    def handle(self, envelopes: Sequence[Envelope]) -> list[Handled]:
        """Applies a batch exactly once: all its effects and positions in one transaction.

        A batch that meets a concurrent writer (another consumer changing the same certificate,
        an HTTP command, a timer) is redone against what is stored, in halves: a smaller
        transaction is done sooner and so less likely to meet the rival again, whereas redoing
        the whole batch can lose to a second consumer's batches over and over. Each half holds a
        prefix of what is left of every partition, so positions still advance in order; a half
        that was stored stays stored if a later one fails (its positions say so)."""
        return self._handle(envelopes, CONFLICT_RETRIES)

    def _handle(self, envelopes: Sequence[Envelope], retries: int) -> list[Handled]:
        try:
            return self._attempt(envelopes)
        except IntegrityError:
            # A concurrent writer changed an aggregate, or another consumer recorded these
            # positions: redo against what is stored.
            self.conflicts += 1
            self._positions.clear()
        if len(envelopes) > 1:
            half = len(envelopes) // 2
            return [
                *self._handle(envelopes[:half], retries),
                *self._handle(envelopes[half:], retries),
            ]
        if retries == 0:
            raise ConcurrentUpdate("the batch kept conflicting with concurrent writers")
        return self._handle(envelopes, retries - 1)

    def _attempt(self, envelopes: Sequence[Envelope]) -> list[Handled]:
        work = UnitOfWork(self.app, self._cache)
        try:
            return self._apply(work, envelopes)
        except BaseException:
            # What the batch changed in memory was not stored: forget those copies. The rest
            # of the cache is sound (every remembered copy is caught up before it is used).
            self._cache.forget(work.touched())
            raise

    def _apply(self, work: UnitOfWork, envelopes: Sequence[Envelope]) -> list[Handled]:
        handled, last = self._decide_all(work, envelopes)
        if last:
            self.app.save(*work.changed(), trackings=_trackings(last))
            self._positions.update(last)
            self._cache.keep(work.loaded())
            self.app.pool_index.observe_all(work.certificates())
        return handled

    def _decide_all(
        self, work: UnitOfWork, envelopes: Sequence[Envelope]
    ) -> tuple[list[Handled], dict[str, int]]:
        """Every record's outcome, its changes made on the unit of work's copies; and the last
        offset of each source that was not consumed already."""
        handled = []
        last: dict[str, int] = {}
        work.prefetch(
            envelope.message
            for envelope in envelopes
            if envelope.message is not None and not self._already_consumed(envelope)
        )
        for envelope in envelopes:
            recorded = self._recorded_position(envelope.source)
            if recorded is not None and envelope.offset <= recorded:
                handled.append(Handled(envelope, Outcome.ALREADY_CONSUMED))
                continue
            handled.append(self._handle_one(work, envelope))
            last[envelope.source] = max(envelope.offset, last.get(envelope.source, -1))
        return handled, last

    # ------------------------------------------------------------------ pipelined batches

    def decide(self, envelopes: Sequence[Envelope]) -> Decided:
        """The first half of `handle`, for pipelining: the batch's outcomes and events, with
        nothing stored. Optimistic: the positions and the cache already say the batch is
        stored, and its copies stay pinned, so that the next batch can be decided on top of it
        while `store` runs. Exactly one of `stored(decided)` (after `store` succeeded) or
        `reset()` (after it failed: what was decided on top of it is void too) must follow.
        No conflict handling here: a failed store is redone through `handle`."""
        work = UnitOfWork(self.app, self._cache)
        try:
            handled, last = self._decide_all(work, envelopes)
        except BaseException:
            self._cache.forget(work.touched())
            raise
        if not last:
            return Decided(envelopes, handled, None, [], [])
        collected: ProcessingEvent[UUID] = ProcessingEvent()
        for changed in work.changed():
            # Taken now: the copies take the next batch's changes before this one is stored.
            collected.events.extend(changed.collect_events())
        collected.saved_kwargs["trackings"] = _trackings(last)
        self._positions.update(last)
        loaded = work.loaded()
        self._cache.keep(loaded)
        observations = [observation_of(c) for c in work.certificates()]
        return Decided(envelopes, handled, collected, observations, self._cache.pin(loaded))

    def store(self, decided: Decided) -> None:
        """Records a decided batch's events and positions in ONE transaction. Thread-safe
        against `decide` of the next batch: it reads only `decided`, never the copies."""
        if decided.collected is not None:
            self.app.record_collected(decided.collected)

    def stored(self, decided: Decided) -> None:
        """After `store` succeeded: the copies are in the store now, and the pool index learns
        what the batch did (as `handle` tells it after its save)."""
        self._cache.unpin(decided.pinned)
        self.app.pool_index.apply_observations(decided.observations)

    def reset(self) -> None:
        """Forgets every copy and position (a store failed: what was decided on top of it was
        decided on changes that are not in the store). The next batches read the store."""
        self._cache.clear()
        self._positions.clear()

    def count_conflict(self) -> None:
        """A pipelined store met a concurrent writer (counted like a redone attempt)."""
        self.conflicts += 1

    def _already_consumed(self, envelope: Envelope) -> bool:
        recorded = self._recorded_position(envelope.source)
        return recorded is not None and envelope.offset <= recorded

    def _recorded_position(self, source: str) -> int | None:
        if source not in self._positions:
            self._positions[source] = self.app.inbox.max_tracking_id(source)
        return self._positions[source]

    # ------------------------------------------------------------------ one message

    def _handle_one(self, work: UnitOfWork, envelope: Envelope) -> Handled:
        if envelope.problem is not None:
            return self._dead_letter(work, envelope, envelope.problem)
        message = envelope.message
        try:
            if isinstance(message, SalesOrderMessage):
                outcome = self._order_message(work, envelope, message)
            elif isinstance(message, PaymentMessage):
                outcome = self._payment_message(work, envelope, message)
            elif isinstance(message, ClientMessage):
                outcome = self._client_message(work, envelope, message)
            else:
                outcome = Outcome.IGNORED
        except Refusal as refusal:
            return self._dead_letter(work, envelope, refusal.problem)
        return Handled(envelope, outcome)

    def _dead_letter(self, work: UnitOfWork, envelope: Envelope, problem: Problem) -> Handled:
        message_id = envelope.message_id or getattr(envelope.message, "message_id", None)
        work.dead_letters.append(
            DeadLetter.record(
                topic=envelope.topic,
                partition=envelope.partition,
                offset=envelope.offset,
                key=envelope.key,
                value=envelope.value,
                message_id=message_id,
                reason_code=problem.code,
                reason=problem.reason,
                cause=self._cause(envelope, message_id or f"offset-{envelope.offset}", None),
            )
        )
        return Handled(envelope, Outcome.DEAD_LETTERED, problem)

    @staticmethod
    def _cause(envelope: Envelope, message_id: str, correlation: str | None) -> Cause:
        return Cause(f"kafka:{envelope.topic}", message_id, correlation or message_id)

    def _currency(self, currency: str | None) -> str:
        return currency or self.app.settings.default_currency

    def _money(self, amount: Decimal, currency: str | None) -> Money:
        try:
            return Money(amount, self._currency(currency))
        except DomainError as error:
            raise Refusal("invalid-money", error.message) from None

    # ------------------------------------------------------------------ All_SalesOrder

    def _order_message(
        self, work: UnitOfWork, envelope: Envelope, message: SalesOrderMessage
    ) -> Outcome:
        cause = self._cause(envelope, message.message_id, message.order_id)
        if not message.is_about_certificates:
            # A cancellation may omit the lines of an order we know: it still counts.
            known = work.known_order(message.order_id)
            if known is None or message.event_type != "ORDER_CANCELLED":
                return Outcome.IGNORED
        currency = self._currency(message.currency)
        lines, unknown = [], []
        for line in message.gift_certificates:
            money = self._money(line.amount, currency)
            if money.is_zero:
                raise Refusal("invalid-money", "a certificate line needs a positive amount")
            if work.certificate(line.certificate_id) is None:
                unknown.append(str(line.certificate_id))
                continue
            recipient = line.recipient
            lines.append(
                CertificateLine(
                    certificate_id=str(line.certificate_id),
                    amount=money.amount,
                    validity_days=line.validity_days,
                    notification_channel=_channel(line.notification_channel),
                    recipient=(
                        {"name": recipient.name, "email": recipient.email, "phone": recipient.phone}
                        if recipient
                        else None
                    ),
                )
            )
        redemptions = []
        for redemption in message.redemptions:
            try:
                number = CertificateNumber.parse(redemption.certificate_number).value
            except DomainError as error:
                raise Refusal("invalid-message", f"redemptions: {error.message}") from None
            redemptions.append((number, self._money(redemption.amount, currency).amount))
        order = work.order(message.order_id, cause)
        if not order.receive_order_message(
            message_id=message.message_id,
            event_type=message.event_type,
            channel=message.channel,
            client_id=message.customer.client_id if message.customer else None,
            customer=(
                {"name": None, "email": message.customer.email, "phone": message.customer.phone}
                if message.customer
                else None
            ),
            currency=currency,
            certificate_lines=lines,
            redemption_lines=redemptions,
            refund_lines=[(str(r.certificate_id), r.reason) for r in message.refunds],
            cause=cause,
        ):
            return Outcome.DUPLICATE
        problems = self._settle(work, order, cause)
        if unknown:
            problems.insert(
                0,
                Problem(
                    "unknown-certificate",
                    f"giftCertificates names an unknown certificate: {', '.join(unknown)}",
                ),
            )
        if problems:
            raise Refusal(problems[0].code, "; ".join(p.reason for p in problems))
        return Outcome.APPLIED

    # ------------------------------------------------------------------ All_Payments

    def _payment_message(
        self, work: UnitOfWork, envelope: Envelope, message: PaymentMessage
    ) -> Outcome:
        if message.event_type not in PAYMENT_TYPES:
            return Outcome.IGNORED
        cause = self._cause(envelope, message.message_id, message.order_id)
        money = self._money(message.amount, message.currency)
        order = work.order(message.order_id, cause)
        if not order.receive_payment(
            message_id=message.message_id,
            payment_id=message.payment_id,
            event_type=message.event_type,
            method=message.method or "",
            amount=money.amount,
            currency=money.currency,
            certificate_number=message.certificate_number,
            refund_of=message.refund_of,
            cause=cause,
        ):
            return Outcome.DUPLICATE
        problems = self._settle(work, order, cause)
        if problems:
            raise Refusal(problems[0].code, "; ".join(p.reason for p in problems))
        return Outcome.APPLIED

    # ------------------------------------------------------------------ All_Clients

    def _client_message(
        self, work: UnitOfWork, envelope: Envelope, message: ClientMessage
    ) -> Outcome:
        result = message.gift_certificate_notification
        if result is None:
            return Outcome.IGNORED
        if result.result not in ("SENT", "FAILED"):
            raise Refusal("invalid-message", "result must be SENT or FAILED")
        cause = self._cause(envelope, message.message_id, message.client_id)
        certificate = work.certificate(result.certificate_id)
        if certificate is None:
            raise Refusal("unknown-certificate", "the notification names an unknown certificate")
        try:
            changed = certificate.record_notification_result(
                notification_id=result.notification_id,
                sent=result.sent,
                error=result.error,
                cause=cause,
            )
        except DomainError as error:
            raise Refusal("notification-refused", error.message) from None
        return Outcome.APPLIED if changed else Outcome.DUPLICATE

    # ------------------------------------------------------------------ settling an order

    def _settle(self, work: UnitOfWork, order: SalesOrder, cause: Cause) -> list[Problem]:
        """Carries out what the order's facts call for; returns what this message is at fault
        for (a dead letter), after recording every decision on the order."""
        problems: list[Problem] = []
        for _ in range(SETTLE_ROUNDS):
            due = order.due()
            if not due:
                break
            for item in due:
                problem = self._carry_out(work, order, item, cause)
                if problem is not None:
                    problems.append(problem)
        return problems

    def _carry_out(
        self, work: UnitOfWork, order: SalesOrder, item: Due, cause: Cause
    ) -> Problem | None:
        if isinstance(item, IssueDue):
            return self._issue(work, order, item.line, cause)
        if isinstance(item, ReleaseDue):
            return self._release(work, order, item, cause)
        if isinstance(item, CancelDue):
            return self._cancel(work, order, item, cause)
        if isinstance(item, RedemptionDue):
            return self._redeem(work, order, item, cause)
        if isinstance(item, RefundStepDue):
            return self._refund_step(work, order, item, cause)
        return self._reverse(work, order, item, cause)

    def _issue(
        self, work: UnitOfWork, order: SalesOrder, line: CertificateLine, cause: Cause
    ) -> Problem | None:
        certificate = work.certificate(UUID(line.certificate_id))
        assert certificate is not None  # Unknown lines are never recorded.
        now = self.app.clock.now()
        days = line.validity_days or self.app.settings.default_validity.days
        contact = line.recipient or order.customer  # The recipient defaults to the buyer.
        channel = NotificationChannel(line.notification_channel)
        payments = sorted(
            p.payment_id for p in order.payments.values() if p.succeeded and not p.by_certificate
        )
        try:
            certificate.issue(
                amount=Money(line.amount, order.currency or self.app.settings.default_currency),
                channel=order.channel or "",
                order_id=order.order_id,
                payment_ids=payments,
                client_id=order.client_id,
                recipient=Recipient(**contact) if contact else Recipient(),
                notification_channel=channel,
                issued_at=now,
                expires_at=now + timedelta(days=days),
                cause=cause,
            )
        except DomainError as error:
            order.decide(
                ISSUE,
                line.certificate_id,
                outcome=REFUSED,
                reason=error.message,
                certificate_id=line.certificate_id,
                cause=cause,
            )
            return Problem("issue-refused", f"certificate {line.certificate_id}: {error.message}")
        if channel is not NotificationChannel.NONE:
            certificate.request_notification(
                notification_id=notification_id_for(certificate.id, 1), cause=cause
            )
        order.decide(
            ISSUE,
            line.certificate_id,
            outcome=DONE,
            certificate_id=line.certificate_id,
            cause=cause,
        )
        return None

    def _release(
        self, work: UnitOfWork, order: SalesOrder, item: ReleaseDue, cause: Cause
    ) -> Problem | None:
        certificate = work.certificate(UUID(item.certificate_id))
        assert certificate is not None
        reason = "ORDER_CANCELLED" if order.cancelled else "PAYMENT_FAILED"
        self._decided(
            order,
            RELEASE,
            item.certificate_id,
            lambda: certificate.release_reservation(reason=reason, cause=cause),
            cause,
        )
        return None

    def _cancel(
        self, work: UnitOfWork, order: SalesOrder, item: CancelDue, cause: Cause
    ) -> Problem | None:
        certificate = work.certificate(UUID(item.certificate_id))
        assert certificate is not None
        # A refusal is not the message's fault (say, the certificate was already used): it is
        # recorded on the order for support and audit, not dead-lettered.
        self._decided(
            order,
            CANCEL,
            item.certificate_id,
            lambda: certificate.cancel(reason=item.reason, cause=cause),
            cause,
        )
        return None

    @staticmethod
    def _decided(
        order: SalesOrder,
        kind: str,
        certificate_id: str,
        change: Callable[[], object],
        cause: Cause,
    ) -> str | None:
        """Makes one change to a certificate for the order and records the decision; returns
        why the certificate refused, if it did."""
        try:
            change()
        except DomainError as error:
            order.decide(
                kind,
                certificate_id,
                outcome=REFUSED,
                reason=error.message,
                certificate_id=certificate_id,
                cause=cause,
            )
            return error.message
        order.decide(kind, certificate_id, outcome=DONE, certificate_id=certificate_id, cause=cause)
        return None

    def _redeem(
        self, work: UnitOfWork, order: SalesOrder, item: RedemptionDue, cause: Cause
    ) -> Problem | None:
        payment = item.payment
        certificate = work.certificate_by_number(payment.certificate_number)
        if certificate is None:
            order.decide(
                REDEEM,
                payment.payment_id,
                outcome=REFUSED,
                reason="UNKNOWN_CERTIFICATE",
                cause=cause,
            )
            return Problem(
                "unknown-certificate", f"payment {payment.payment_id} names an unknown certificate"
            )
        amount = Money(payment.amount, payment.currency)
        if item.matched:
            outcome = certificate.redeem(
                payment_id=payment.payment_id,
                order_id=order.order_id,
                amount=amount,
                at=self.app.clock.now(),
                cause=cause,
            )
            reason = outcome.reason.value if outcome.reason else None
        else:
            certificate.reject_redemption(
                payment_id=payment.payment_id,
                order_id=order.order_id,
                amount=amount,
                reason=RejectionReason.AMOUNT_MISMATCH,
                cause=cause,
            )
            reason = RejectionReason.AMOUNT_MISMATCH.value
        order.decide(
            REDEEM,
            payment.payment_id,
            outcome=DONE,
            reason=reason,
            certificate_id=str(certificate.id),
            cause=cause,
        )
        return None

    def _refund_step(
        self, work: UnitOfWork, order: SalesOrder, item: RefundStepDue, cause: Cause
    ) -> Problem | None:
        payment = item.payment
        subject = f"{payment.payment_id}/{item.step}"
        certificate = work.certificate(UUID(item.certificate_id))
        if certificate is None:
            order.decide(
                REFUND,
                subject,
                outcome=REFUSED,
                reason="UNKNOWN_CERTIFICATE",
                certificate_id=item.certificate_id,
                cause=cause,
            )
            return Problem("unknown-certificate", "refunds names an unknown certificate")
        sold_by = certificate.issue_terms.order_id if certificate.issue_terms else None
        amount = Money(payment.amount, payment.currency)
        try:
            if sold_by != order.order_id:
                raise Refusal("refund-refused", "the certificate was not sold by this order")
            if item.step == REFUND_PENDING:
                certificate.start_refund(payment_id=payment.payment_id, amount=amount, cause=cause)
            elif item.step == REFUND_COMPLETED:
                certificate.complete_refund(
                    payment_id=payment.payment_id, amount=amount, cause=cause
                )
            elif item.step == REFUND_FAILED:
                certificate.fail_refund(
                    payment_id=payment.payment_id, reason=None, amount=amount, cause=cause
                )
            else:
                certificate.refund_needs_details(
                    payment_id=payment.payment_id, amount=amount, cause=cause
                )
        except (DomainError, Refusal) as error:
            reason = error.problem.reason if isinstance(error, Refusal) else error.message
            order.decide(
                REFUND,
                subject,
                outcome=REFUSED,
                reason=reason,
                certificate_id=item.certificate_id,
                cause=cause,
            )
            return Problem("refund-refused", f"refund {payment.payment_id}: {reason}")
        order.decide(REFUND, subject, outcome=DONE, certificate_id=item.certificate_id, cause=cause)
        return None

    def _reverse(
        self, work: UnitOfWork, order: SalesOrder, item: ReversalDue, cause: Cause
    ) -> Problem | None:
        payment = item.payment
        certificate = work.certificate_by_number(payment.certificate_number)
        problem: Problem | None = None
        if certificate is None:
            problem = Problem("unknown-certificate", "the refund names an unknown certificate")
        elif not payment.refund_of:
            problem = Problem("invalid-message", "a refund to a certificate needs refundOf")
        else:
            try:
                certificate.reverse_redemption(
                    refund_payment_id=payment.payment_id,
                    redemption_payment_id=payment.refund_of,
                    amount=Money(payment.amount, payment.currency),
                    cause=cause,
                )
            except DomainError as error:
                problem = Problem("reversal-refused", error.message)
        order.decide(
            REVERSE,
            payment.payment_id,
            outcome=REFUSED if problem else DONE,
            reason=problem.reason if problem else None,
            certificate_id=str(certificate.id) if certificate else None,
            cause=cause,
        )
        return problem


def _trackings(last: dict[str, int]) -> list[Tracking]:
    return [Tracking(source, offset) for source, offset in last.items()]


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


def _channel(value: str | None) -> str:
    try:
        return NotificationChannel(value or NotificationChannel.EMAIL).value
    except ValueError:
        raise Refusal("invalid-message", "notificationChannel must be EMAIL, SMS or NONE") from None
