"""GET /certificates/next under concurrency: the handler awaits the reservation desk, so
requests in flight together are served together, each with a certificate of its own."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any
from uuid import UUID

import httpx
from litestar.testing import TestClient
from tests.integration.certificates import count_events, originator_ids

from gcp_app.application import GiftCertificates
from gcp_domain import CertificateState, GiftCertificate

from .conftest import MEMORY_AND_POSTGRES, POOL, SETUP, asgi_client, bearer

CONCURRENT = 32


pytestmark = MEMORY_AND_POSTGRES


def assert_distinct_reservations(gcp: GiftCertificates, bodies: list[dict[str, Any]]) -> None:
    ids = [UUID(body["certificateId"]) for body in bodies]
    assert len(set(ids)) == len(ids) == CONCURRENT
    assert len({body["number"] for body in bodies}) == CONCURRENT
    stored = count_events(gcp, GiftCertificate.Reserved)
    assert stored == Counter(dict.fromkeys(ids, 1))
    for certificate_id in ids:
        assert gcp.get_certificate(certificate_id).state is CertificateState.RESERVED
    assert gcp.pool_status(POOL).reserved == CONCURRENT


def test_concurrent_requests_on_one_event_loop_get_distinct_certificates(
    gcp: GiftCertificates,
) -> None:
    gcp.pools.generate_certificates(POOL, CONCURRENT + 8, cause=SETUP)

    async def reserve_all() -> list[httpx.Response]:
        async with asgi_client(gcp) as http:
            return await asyncio.gather(
                *(
                    http.get(
                        "/certificates/next",
                        params={"orderId": f"WEB-{n}"},
                        headers=bearer("channel", sub=f"shop-{n % 4}"),
                    )
                    for n in range(CONCURRENT)
                )
            )

    responses = asyncio.run(reserve_all())

    assert [r.status_code for r in responses] == [200] * CONCURRENT, [r.text for r in responses]
    bodies = [r.json() for r in responses]
    assert_distinct_reservations(gcp, bodies)
    for n, body in enumerate(bodies):  # each answer is its own request's reservation
        held = gcp.get_certificate(UUID(body["certificateId"])).reservation
        assert held is not None
        assert (held.by, held.order_id) == (f"shop-{n % 4}", f"WEB-{n}")


def test_concurrent_requests_from_threads_get_distinct_certificates(
    gcp: GiftCertificates, client: TestClient[Any]
) -> None:
    gcp.pools.generate_certificates(POOL, CONCURRENT + 8, cause=SETUP)
    start = threading.Barrier(CONCURRENT)
    responses: list[Any] = [None] * CONCURRENT

    def get(n: int) -> None:
        start.wait()
        responses[n] = client.get(
            "/certificates/next",
            params={"orderId": f"POS-{n}"},
            headers=bearer("channel", sub="pos"),
        )

    threads = [threading.Thread(target=get, args=(n,)) for n in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [r.status_code for r in responses] == [200] * CONCURRENT, [r.text for r in responses]
    assert_distinct_reservations(gcp, [r.json() for r in responses])


def test_concurrent_retries_with_one_idempotency_key_get_one_reservation(
    gcp: GiftCertificates,
) -> None:
    headers = {**bearer("channel", sub="web-shop"), "Idempotency-Key": "order-7-try"}

    async def retry_at_once() -> list[httpx.Response]:
        async with asgi_client(gcp) as http:
            return await asyncio.gather(
                *(
                    http.get("/certificates/next", params={"orderId": "WEB-7"}, headers=headers)
                    for _ in range(8)
                )
            )

    responses = asyncio.run(retry_at_once())

    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    assert len({r.text for r in responses}) == 1
    assert originator_ids(gcp, GiftCertificate.Reserved) == [
        UUID(responses[0].json()["certificateId"])
    ]
