"""The pool endpoints: pre-create certificates (admin) and read a pool's levels.

`POST /pools/{pool}/certificates` runs synchronously and answers `201` with what it created;
the contract also allows `202` with a job. We chose 201: generating is fast (about 8,000
certificates a second on SQLite on a development machine, so the most one call may ask,
100,000, takes some 13 s), a job would need a job store, a status endpoint and a worker for
little gain, and a caller that gives up can read the levels (`GET /pools/{pool}`) to see what
was done: every batch of 1,000 is committed on its own, so a cut request leaves whole batches
behind, never a half-stocked one.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter

from gcp_adapters.http.auth import Role, access
from gcp_adapters.http.idempotency import IdempotentPost
from gcp_adapters.http.models import GeneratedOut, GenerateIn, PoolLevelsOut
from gcp_adapters.http.problems import COMMON, problem_responses
from gcp_app.application import GiftCertificates
from gcp_domain.cause import Cause

PoolName = Annotated[str, PathParameter(min_length=1, max_length=100)]


class PoolsController(Controller):
    path = "/pools"
    tags = ["pools"]  # noqa: RUF012 (Litestar reads a class attribute)

    @post(
        "/{pool:str}/certificates",
        operation_class=IdempotentPost,
        sync_to_thread=True,
        status_code=201,
        summary="Pre-create certificates in a pool (created if new)",
        responses=problem_responses(*COMMON, 422, 503),
        **access(Role.ADMIN),
    )
    def generate(
        self,
        gcp: NamedDependency[GiftCertificates],
        cause: NamedDependency[Cause],
        pool: PoolName,
        data: JSONBody[GenerateIn],
    ) -> GeneratedOut:
        """Roles: admin. Body `{"count": N}`, 1 to 100,000, and `lowWatermark` for a pool this
        call creates (POOL_LOW is published when fewer are available); answers when they are
        stored."""
        gcp.pools.create_pool(pool, low_watermark=data.low_watermark, cause=cause)
        created = gcp.pools.generate_certificates(pool, data.count, cause=cause)
        levels = PoolLevelsOut.of(gcp.pool_status(pool))
        return GeneratedOut(pool=pool, created=created, levels=levels)

    @get(
        "/{pool:str}",
        sync_to_thread=True,
        summary="A pool's levels",
        responses=problem_responses(*COMMON, 404),
        **access(Role.ADMIN, Role.SUPPORT),
    )
    def levels(self, gcp: NamedDependency[GiftCertificates], pool: PoolName) -> PoolLevelsOut:
        """Roles: admin, support."""
        return PoolLevelsOut.of(gcp.pool_status(pool))
