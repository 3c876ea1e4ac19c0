"""Answered requests: what a request with an `Idempotency-Key` was answered, kept in the store.

An `AnsweredRequest` is an aggregate whose id derives from (token subject, method, path, key),
like the claims of `gcp_domain.claims`: a second record of the same key cannot be saved (the
store's (id, version) constraint refuses it), across processes, and the record outlives a
restart because it lives in the event store with everything else.

It holds the request's fingerprint (sha256 of method, path, query and canonical body) and the
answer (status, body as text, content type). Never record an answer that holds a secret: the one
endpoint that discloses one (the CVC, a GET) is not covered.
"""

from __future__ import annotations

import hashlib
import json
from typing import Final
from uuid import NAMESPACE_URL, UUID, uuid5

import attrs
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from gcp_domain.cause import Cause

ANSWERED_REQUEST_NAMESPACE: Final = uuid5(NAMESPACE_URL, "urn:gcp:answered-request")


class AnsweredRequest(Aggregate):
    """The first answer to a (subject, method, path, Idempotency-Key)."""

    TOPIC = "gcp:AnsweredRequest"

    class Created(Aggregate.Created):
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
        status: int,
        body: str,
        content_type: str,
        cause: Cause,
    ) -> None:
        self.fingerprint = fingerprint
        self.status = status
        self.body = body
        self.content_type = content_type


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


def find_answer(app: Application[UUID], request: RequestKey) -> Answer | None:
    """The stored answer to this key, if any."""
    try:
        found: object = app.repository.get(request.id)
    except AggregateNotFoundError:
        return None
    assert isinstance(found, AnsweredRequest)
    return Answer(found.fingerprint, found.status, found.body, found.content_type)


def record_answer(
    app: Application[UUID], request: RequestKey, answer: Answer, *, cause: Cause
) -> Answer:
    """Records the answer; returns what is stored for the key (a concurrent request with the
    same key may have recorded its own first: then the winner's answer)."""
    record = AnsweredRequest(
        subject=request.subject,
        method=request.method.upper(),
        path=request.path,
        key=request.key,
        fingerprint=answer.fingerprint,
        status=answer.status,
        body=answer.body,
        content_type=answer.content_type,
        cause=cause,
    )
    try:
        app.save(record)
    except IntegrityError:
        winner = find_answer(app, request)
        if winner is None:
            raise
        return winner
    return answer
