"""Idempotency-Key on POSTs under concurrency: the key is claimed in the event store before the
request runs, so of simultaneous requests with one key only one runs (the others: 409
in flight, then the replay); a claim without a keepable answer is released for a retry, a
claim whose process died is taken over after CLAIM_TIMEOUT, and answers stored before claims
existed (`AnsweredRequest.Created`) still replay."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from gcp_adapters.http import create_http_app
from gcp_app.application import GiftCertificates
from gcp_app.idempotency import (
    CLAIM_TIMEOUT,
    Answer,
    AnsweredRequest,
    RequestKey,
    claim_request,
    fingerprint,
    record_answer,
)
from gcp_domain.pool import CertificatePool, pool_id

from .conftest import (
    MEMORY_AND_POSTGRES,
    SECRET,
    SETUP,
    SQLITE_AND_POSTGRES,
    Problem,
    asgi_client,
    bearer,
    open_app,
)

PATH = "/pools/spring/certificates"
RACERS = 8


def keyed(key: str, sub: str = "ops") -> dict[str, str]:
    return {**bearer("admin", sub=sub), "Idempotency-Key": key}


def batches_added(gcp: GiftCertificates, pool: str = "spring") -> int:
    events = gcp.store.events.get(pool_id(pool))
    return sum(isinstance(e, CertificatePool.CertificatesAdded) for e in events)


def topics_of(gcp: GiftCertificates, key: str, sub: str = "ops") -> list[str]:
    wanted = RequestKey(subject=sub, method="POST", path=PATH, key=key)
    return [type(e).TOPIC for e in gcp.store.events.get(wanted.id)]


class Gate:
    """Holds pool generation until opened; counts the runs that got in."""

    def __init__(self, gcp: GiftCertificates, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.runs = 0
        self.fail_next = False
        original = gcp.pools.generate_certificates
        lock = threading.Lock()

        def gated(*args: Any, **kwargs: Any) -> int:
            with lock:
                self.runs += 1
                fail, self.fail_next = self.fail_next, False
            if fail:
                raise RuntimeError("the generator broke")
            self.entered.set()
            assert self.opened.wait(10), "the gate was never opened"
            return original(*args, **kwargs)

        monkeypatch.setattr(gcp.pools, "generate_certificates", gated)


async def race(
    gcp: GiftCertificates, gate: Gate, key: str
) -> tuple[httpx.Response, list[httpx.Response], httpx.Response, httpx.Response]:
    """RACERS simultaneous POSTs with one key while the one that runs is held at the gate; then
    another body with the key (still in flight), then the gate opens. Returns the winner, the
    others (answered while it was held), the other body's answer and a retry after the end."""
    async with asgi_client(gcp) as http:

        def post(count: int = 3) -> Any:
            return http.post(PATH, json={"count": count}, headers=keyed(key))

        pending = {asyncio.create_task(post()) for _ in range(RACERS)}
        assert await asyncio.to_thread(gate.entered.wait, 10), "no request ran"
        losers: list[httpx.Response] = []
        while len(pending) > 1:  # All but the held one are answered without running.
            done, pending = await asyncio.wait(
                pending, timeout=10, return_when=asyncio.FIRST_COMPLETED
            )
            assert done, "more than one request is held at the gate"
            losers.extend(task.result() for task in done)
        other = await post(count=4)
        gate.opened.set()
        winner = await pending.pop()
        retry = await post()
        return winner, losers, other, retry


def run_race(
    gcp: GiftCertificates, gate: Gate, key: str
) -> tuple[httpx.Response, list[httpx.Response], httpx.Response, httpx.Response]:
    return asyncio.run(race(gcp, gate, key))


def assert_in_flight(response: httpx.Response, problem: Problem) -> None:
    problem(response, 409, "idempotency-key-in-flight")
    assert response.headers["retry-after"] == "1"


@MEMORY_AND_POSTGRES
def test_simultaneous_generations_with_one_key_generate_once(
    gcp: GiftCertificates, monkeypatch: pytest.MonkeyPatch, problem: Problem
) -> None:
    gate = Gate(gcp, monkeypatch)

    winner, losers, other, retry = run_race(gcp, gate, "gen-race")

    assert winner.status_code == 201, winner.text
    assert "idempotent-replayed" not in winner.headers
    assert len(losers) == RACERS - 1
    for loser in losers:
        assert_in_flight(loser, problem)
    problem(other, 422, "idempotency-key-reused")
    assert retry.status_code == 201
    assert retry.json() == winner.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert gate.runs == 1
    assert batches_added(gcp) == 1
    assert gcp.pool_status("spring").available == 3
    assert topics_of(gcp, "gen-race") == [
        AnsweredRequest.Claimed.TOPIC,
        AnsweredRequest.Answered.TOPIC,
    ]


@MEMORY_AND_POSTGRES
def test_a_released_claim_lets_one_retry_run(
    gcp: GiftCertificates, monkeypatch: pytest.MonkeyPatch, problem: Problem
) -> None:
    gate = Gate(gcp, monkeypatch)
    gate.fail_next = True
    with TestClient(create_http_app(gcp, jwt_secret=SECRET)) as client:
        failed = client.post(PATH, json={"count": 3}, headers=keyed("gen-retry"))
    problem(failed, 500, "internal")
    assert gate.runs == 1
    assert batches_added(gcp) == 0

    # The retries race again after the release: still only one runs.
    winner, losers, other, retry = run_race(gcp, gate, "gen-retry")

    assert winner.status_code == 201, winner.text
    for loser in losers:
        assert_in_flight(loser, problem)
    problem(other, 422, "idempotency-key-reused")
    assert retry.headers["idempotent-replayed"] == "true"
    assert gate.runs == 2
    assert batches_added(gcp) == 1
    assert topics_of(gcp, "gen-retry") == [
        AnsweredRequest.Claimed.TOPIC,
        AnsweredRequest.Released.TOPIC,
        AnsweredRequest.Reclaimed.TOPIC,
        AnsweredRequest.Answered.TOPIC,
    ]


@MEMORY_AND_POSTGRES
def test_a_released_key_may_carry_a_corrected_request(
    client: TestClient[Any], gcp: GiftCertificates, problem: Problem
) -> None:
    problem(client.post(PATH, json={"count": 0}, headers=keyed("fix")), 400, "invalid-request")
    fixed = client.post(PATH, json={"count": 2}, headers=keyed("fix"))
    assert fixed.status_code == 201, fixed.text
    assert gcp.pool_status("spring").available == 2
    assert topics_of(gcp, "fix")[-2:] == [
        AnsweredRequest.Reclaimed.TOPIC,
        AnsweredRequest.Answered.TOPIC,
    ]


@MEMORY_AND_POSTGRES
def test_a_claim_whose_process_died_is_taken_over_after_the_timeout(
    client: TestClient[Any], gcp: GiftCertificates, problem: Problem
) -> None:
    wanted = RequestKey(subject="ops", method="POST", path=PATH, key="gen-dead")
    printed = fingerprint("POST", PATH, "", b'{"count": 2}')
    dead = claim_request(gcp.store, wanted, printed, at=gcp.clock.now(), cause=SETUP)
    assert isinstance(dead, AnsweredRequest)  # Claimed, and its process never comes back.

    assert_in_flight(client.post(PATH, json={"count": 2}, headers=keyed("gen-dead")), problem)
    clock: Any = gcp.clock
    clock.advance(CLAIM_TIMEOUT - timedelta(seconds=5))
    assert_in_flight(client.post(PATH, json={"count": 2}, headers=keyed("gen-dead")), problem)
    clock.advance(timedelta(seconds=6))
    # However old the claim, the key stays its request's: another body is refused.
    problem(
        client.post(PATH, json={"count": 5}, headers=keyed("gen-dead")),
        422,
        "idempotency-key-reused",
    )
    taken = client.post(PATH, json={"count": 2}, headers=keyed("gen-dead"))

    assert taken.status_code == 201, taken.text
    assert "idempotent-replayed" not in taken.headers
    assert gcp.pool_status("spring").available == 2
    assert topics_of(gcp, "gen-dead") == [
        AnsweredRequest.Claimed.TOPIC,
        AnsweredRequest.Reclaimed.TOPIC,
        AnsweredRequest.Answered.TOPIC,
    ]
    # Had the first claimer come back late, its answer would not be recorded over the taker's.
    late = record_answer(
        gcp.store, dead, Answer(printed, 201, "{}", "application/json"), cause=SETUP
    )
    assert late.body == taken.text
    replay = client.post(PATH, json={"count": 2}, headers=keyed("gen-dead"))
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == taken.json()


@SQLITE_AND_POSTGRES
def test_answers_stored_before_claims_and_new_ones_replay_after_a_restart(
    tmp_path: Path, store_url: str, problem: Problem
) -> None:
    stored = '{"pool":"spring","created":7,"levels":{"available":7}}'
    first_app = open_app(tmp_path, store_url)
    try:
        # The way answers were recorded before claims: one Created event with the answer.
        legacy = AnsweredRequest._create(
            AnsweredRequest.Created,
            subject="ops",
            method="POST",
            path=PATH,
            key="gen-legacy",
            fingerprint=fingerprint("POST", PATH, "", b'{"count": 7}'),
            status=201,
            body=stored,
            content_type="application/json",
            cause=SETUP,
        )
        first_app.store.save(legacy)
        with TestClient(create_http_app(first_app, jwt_secret=SECRET)) as client:
            fresh = client.post(PATH, json={"count": 2}, headers=keyed("gen-new"))
        assert fresh.status_code == 201, fresh.text
    finally:
        first_app.close()

    second_app = open_app(tmp_path, store_url)
    try:
        with TestClient(create_http_app(second_app, jwt_secret=SECRET)) as client:
            old = client.post(PATH, json={"count": 7}, headers=keyed("gen-legacy"))
            other = client.post(PATH, json={"count": 8}, headers=keyed("gen-legacy"))
            again = client.post(PATH, json={"count": 2}, headers=keyed("gen-new"))
        assert old.status_code == 201
        assert old.text == stored
        assert old.headers["idempotent-replayed"] == "true"
        problem(other, 422, "idempotency-key-reused")
        assert again.status_code == 201
        assert again.json() == fresh.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert batches_added(second_app) == 1
        assert second_app.pool_status("spring").available == 2
        assert topics_of(second_app, "gen-legacy") == [AnsweredRequest.Created.TOPIC]
    finally:
        second_app.close()
