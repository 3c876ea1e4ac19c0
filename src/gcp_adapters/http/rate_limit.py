"""Rate limits per caller (contract 1.1): `GCP_RATE_PER_SECOND` requests a second for each token
subject (default 50), bursts up to twice that, on reservations and on the till's endpoints.

A token bucket per caller: it holds up to `2 x rate` tokens, refills at `rate` a second, and a
request takes one; an empty bucket answers `429 rate-limited` with `Retry-After`. Other callers
have buckets of their own, so one channel cannot drain a pool at the others' expense.

Litestar's own RateLimitMiddleware counts a sliding log per client address in a store, read and
written back per request: it has no burst allowance, and two processes can both read a log
before either writes it, so a shared limit leaks. So the buckets are ours: in memory for one
process, and in Redis (`GCP_REDIS_URL`) for several, where one Lua script reads, refills, takes
and writes a bucket atomically, on the server's clock.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Final, Protocol

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gcp_adapters.http.auth import Principal
from gcp_app.errors import RateLimited

STATE_KEY: Final = "rate_limiter"
_WARN_EVERY: Final = 60.0
logger = logging.getLogger("gcp.http.rate_limit")
# A bucket left alone this long after it is full again holds no information.
_IDLE_SECONDS: Final = 60


class CallerRate(Protocol):
    async def take(self, caller: str) -> float:
        """Takes a token from `caller`'s bucket: 0.0 if there was one, else the seconds until
        there will be."""
        ...

    async def close(self) -> None: ...


class MemoryBuckets:
    """The buckets of one process."""

    def __init__(
        self, rate: float, *, burst: float | None = None, now: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0:
            raise ValueError("a rate is positive")
        self.rate = rate
        self.capacity = burst if burst is not None else 2 * rate
        self._now = now
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, at)
        self._lock = threading.Lock()

    async def take(self, caller: str) -> float:
        now = self._now()
        with self._lock:
            tokens, at = self._buckets.get(caller, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self.rate
            self._buckets[caller] = (tokens, now)
            if len(self._buckets) > 100_000:
                self._forget_full(now)
        return wait

    def _forget_full(self, now: float) -> None:
        """Drops buckets that have refilled: a full bucket is the same as none."""
        full_after = self.capacity / self.rate + _IDLE_SECONDS
        for caller, (_, at) in list(self._buckets.items()):
            if now - at > full_after:
                del self._buckets[caller]

    async def close(self) -> None:
        return None


# KEYS[1]: the caller's bucket; ARGV: rate a second, capacity. Returns the wait in seconds (a
# string: Lua numbers become integers on the way back). TIME is the server's clock, the same
# for every process.
_TAKE: Final = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or capacity
local at = tonumber(bucket[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
return tostring(wait)
"""


class RedisBuckets:
    """The buckets of every process on one Redis (`GCP_REDIS_URL`)."""

    def __init__(self, url: str, rate: float, *, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("a rate is positive")
        self.rate = rate
        self.capacity = burst if burst is not None else 2 * rate
        self._redis: Any = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._warned_at = -_WARN_EVERY
        self._script: Any = self._redis.register_script(_TAKE)

    async def take(self, caller: str) -> float:
        """A Redis that does not answer lets the request through (logged, once a minute): the
        limit protects the pools; refusing every reservation would take them away."""
        try:
            wait = await self._script(keys=[f"gcp:rate:{caller}"], args=[self.rate, self.capacity])
        except (RedisError, OSError) as error:
            now = time.monotonic()
            if now - self._warned_at > _WARN_EVERY:
                self._warned_at = now
                logger.warning("rate limit not checked: Redis does not answer (%s)", error)
            return 0.0
        return float(wait)

    async def close(self) -> None:
        await self._redis.aclose()


def caller_rate(rate_per_second: float, redis_url: str | None) -> CallerRate:
    """Shared through Redis when a URL is configured, in this process otherwise."""
    if redis_url:
        return RedisBuckets(redis_url, rate_per_second)
    return MemoryBuckets(rate_per_second)


async def rate_limited(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A guard (after the role's): the caller's bucket must have a token."""
    limiter: CallerRate | None = connection.app.state.get(STATE_KEY)
    user = connection.scope.get("user")
    if limiter is None or not isinstance(user, Principal):
        return
    wait = await limiter.take(user.sub)
    if wait > 0:
        raise RateLimited(retry_after=max(1, math.ceil(wait)))
