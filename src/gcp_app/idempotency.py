"""Answered requests: what a request with an `Idempotency-Key` was answered, kept in the store.

An `AnsweredRequest` is an aggregate whose id derives from (token subject, method, path, key),
like the claims of `gcp_domain.claims`. The key is claimed BEFORE the request runs (`Claimed`,
version 1) and the answer recorded after it (`Answered`, the next version), so two requests with
one key cannot both run: the second claim cannot be saved (the store's (id, version) constraint
refuses it), across processes, and the record outlives a restart because it lives in the event
store with everything else.

A claim ends in one of three ways:

- `Answered`: the answer worth keeping (status, body as text, content type), replayed ever after;
- `Released`: the answer was not worth keeping (a 5xx, a 400 that never reached a rule); a
  released key is no claim, and the next request with it takes it again (`Reclaimed`, the next
  version: of two racing retries only one saves it);
- nothing, because the process died: a claim older than `CLAIM_TIMEOUT` may be taken over
  (`Reclaimed` again, raced on the version the same way).

Keys stored before claims existed are one `Created` event with the answer (version 1): they are
answered requests and still replay. The fingerprint is sha256 of method, path, query and
canonical body. Never record an answer that holds a secret: the one endpoint that discloses one
(the CVC, a GET) is not covered.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import datetime, timedelta
from typing import Final
from uuid import NAMESPACE_URL, UUID, uuid5

import attrs
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from gcp_app.errors import IdempotencyKeyInFlight, IdempotencyKeyReused
from gcp_domain.cause import Cause
from gcp_domain.errors import TransitionNotAllowed

ANSWERED_REQUEST_NAMESPACE: Final = uuid5(NAMESPACE_URL, "urn:gcp:answered-request")
# How long a claim holds without an answer before another request may take it over: far longer
# than any POST runs (a pool generation of 100,000 takes seconds), short enough that a key whose
# process died is usable again within a minute.
CLAIM_TIMEOUT: Final = timedelta(seconds=60)
# Rounds of "read, claim, save" before a key that keeps changing under us is called in flight.
CLAIM_ATTEMPTS: Final = 3


class AnsweredRequest(Aggregate):
    """A (subject, method, path, Idempotency-Key): claimed by a running request, then answered
    or released."""

    TOPIC = "gcp:AnsweredRequest"

    class Created(Aggregate.Created):
        """Stored before claims existed: the key and its answer at once. Only replayed now
        (nothing records it any more); keep it and its TOPIC as they are."""

        TOPIC = "gcp:AnsweredRequest.Created"
        subject: str
        method: str
        path: str
        key: str
        fingerprint: str
        status: int
        body: str
        content_type: str
        cause: Cause

    class Claimed(Aggregate.Created):
        TOPIC = "gcp:AnsweredRequest.Claimed"
        subject: str
        method: str
        path: str
        key: str
        fingerprint: str
        claimed_at: datetime
        cause: Cause

    class Reclaimed(Aggregate.Event):
        """Taken again: after a release, or over a stale claim."""

        TOPIC = "gcp:AnsweredRequest.Reclaimed"
        fingerprint: str
        claimed_at: datetime
        cause: Cause

    class Answered(Aggregate.Event):
        TOPIC = "gcp:AnsweredRequest.Answered"
        status: int
        body: str
        content_type: str
        cause: Cause

    class Released(Aggregate.Event):
        TOPIC = "gcp:AnsweredRequest.Released"
        cause: Cause

    @staticmethod
    def create_id(subject: str, method: str, path: str, key: str) -> UUID:
        return answered_request_id(subject, method, path, key)

    @event(Created)
    def __init__(
        self,
        subject: str,
        method: str,
        path: str,
        key: str,
        fingerprint: str,
        cause: Cause,
        status: int | None = None,
        body: str | None = None,
        content_type: str | None = None,
        claimed_at: datetime | None = None,
    ) -> None:
        # Both creation events land here: `Created` (answered at once) and `Claimed` (no answer).
        self.fingerprint = fingerprint
        self.claimed_at = claimed_at
        self.released = False
        self.answer: Answer | None = None
        if status is not None and body is not None and content_type is not None:
            self.answer = Answer(fingerprint, status, body, content_type)

    @classmethod
    def claim(
        cls, request: RequestKey, fingerprint: str, *, at: datetime, cause: Cause
    ) -> AnsweredRequest:
        """The first claim of a key."""
        return cls._create(
            cls.Claimed,
            subject=request.subject,
            method=request.method.upper(),
            path=request.path,
            key=request.key,
            fingerprint=fingerprint,
            claimed_at=at,
            cause=cause,
        )

    @property
    def in_flight(self) -> bool:
        return self.answer is None and not self.released

    def is_stale(self, at: datetime) -> bool:
        return (
            self.in_flight and self.claimed_at is not None and at - self.claimed_at >= CLAIM_TIMEOUT
        )

    def reclaim(self, fingerprint: str, *, at: datetime, cause: Cause) -> None:
        """Takes the key for a new run: a released key by any request, a stale claim by the same
        request only (another request with the key is refused however old the claim)."""
        if self.answer is not None:
            raise TransitionNotAllowed("this request is answered: replay the answer")
        if not self.released:
            if fingerprint != self.fingerprint:
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was used with another request; use a new key"
                )
            if not self.is_stale(at):
                raise IdempotencyKeyInFlight(
                    "a request with this Idempotency-Key is still running; retry shortly"
                )
        self._reclaimed(fingerprint=fingerprint, claimed_at=at, cause=cause)

    def record(self, answer: Answer, *, cause: Cause) -> None:
        if not self.in_flight:
            raise TransitionNotAllowed("only a claimed request can be answered")
        if answer.fingerprint != self.fingerprint:
            raise IdempotencyKeyReused("the answer is to another request than the claim")
        self._answered(
            status=answer.status, body=answer.body, content_type=answer.content_type, cause=cause
        )

    def release(self, *, cause: Cause) -> None:
        if not self.in_flight:
            raise TransitionNotAllowed("only a claimed request can be released")
        self._released(cause=cause)

    @event(Reclaimed)
    def _reclaimed(self, fingerprint: str, claimed_at: datetime, cause: Cause) -> None:
        self.fingerprint = fingerprint
        self.claimed_at = claimed_at
        self.released = False

    @event(Answered)
    def _answered(self, status: int, body: str, content_type: str, cause: Cause) -> None:
        self.answer = Answer(self.fingerprint, status, body, content_type)

    @event(Released)
    def _released(self, cause: Cause) -> None:
        self.released = True


@attrs.frozen
class Answer:
    """A stored answer and the fingerprint of the request it answered."""

    fingerprint: str
    status: int
    body: str
    content_type: str


@attrs.frozen
class RequestKey:
    """Whose key for which endpoint: the identity of an answered request."""

    subject: str
    method: str
    path: str
    key: str

    @property
    def id(self) -> UUID:
        return answered_request_id(self.subject, self.method, self.path, self.key)


def answered_request_id(subject: str, method: str, path: str, key: str) -> UUID:
    return uuid5(ANSWERED_REQUEST_NAMESPACE, "\x00".join((subject, method.upper(), path, key)))


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """sha256 of the request: the same JSON with other spacing or key order is the same body;
    a body that is not JSON counts byte for byte. Query parameters are sorted."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except ValueError:  # Not JSON (or empty): the bytes themselves.
        canonical = body
    params = "&".join(sorted(part for part in query.split("&") if part))
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), params.encode()):
        digest.update(part + b"\x00")
    digest.update(canonical)
    return digest.hexdigest()


def find_request(app: Application[UUID], request_id: UUID) -> AnsweredRequest | None:
    try:
        found: object = app.repository.get(request_id)
    except AggregateNotFoundError:
        return None
    assert isinstance(found, AnsweredRequest)
    return found


def find_answer(app: Application[UUID], request: RequestKey) -> Answer | None:
    """The stored answer to this key, if any."""
    found = find_request(app, request.id)
    return None if found is None else found.answer


def claim_request(
    app: Application[UUID], request: RequestKey, printed: str, *, at: datetime, cause: Cause
) -> AnsweredRequest | Answer:
    """Claims the key for this request before it runs: returns the saved claim (the caller
    runs the request, then `record_answer` or `release_claim` on it), or the stored answer to
    replay. Raises `IdempotencyKeyReused` (the key is another request's) or
    `IdempotencyKeyInFlight` (a live claim holds it). Two claimers race on the version: one
    saves, the other reads again and finds the winner's claim."""
    for _ in range(CLAIM_ATTEMPTS):
        found = find_request(app, request.id)
        if found is not None and found.answer is not None:
            if found.answer.fingerprint != printed:
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was used with another request; use a new key"
                )
            return found.answer
        if found is None:
            found = AnsweredRequest.claim(request, printed, at=at, cause=cause)
        else:
            found.reclaim(printed, at=at, cause=cause)
        try:
            app.save(found)
        except IntegrityError:
            continue  # Another request claimed (or answered) it meanwhile: look again.
        return found
    raise IdempotencyKeyInFlight("a request with this Idempotency-Key is still running")


def record_answer(
    app: Application[UUID], claim: AnsweredRequest, answer: Answer, *, cause: Cause
) -> Answer:
    """Records the answer on our claim; returns what is stored for the key. Our claim may have
    been taken over meanwhile (it went stale): then the save fails on the version, and if the
    taker has answered the same request, that answer is returned."""
    claim.record(answer, cause=cause)
    try:
        app.save(claim)
    except IntegrityError:
        found = find_request(app, claim.id)
        if found is not None and found.answer is not None:
            return found.answer
        raise
    return answer


def release_claim(app: Application[UUID], claim: AnsweredRequest, *, cause: Cause) -> None:
    """Gives the key back (no answer worth keeping): the next request with it runs. A claim
    taken over meanwhile is the taker's: nothing to release then."""
    claim.release(cause=cause)
    with contextlib.suppress(IntegrityError):
        app.save(claim)
