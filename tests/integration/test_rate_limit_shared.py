"""The rate limit is one for every HTTP process of a deployment when GCP_REDIS_URL is set:
two `gcp serve --only http` processes on one Redis (the server on 127.0.0.1:6379) let one caller
have one bucket between them, not one each."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import redis

from gcp_adapters.bootstrap import build_application
from gcp_adapters.http import mint_token
from gcp_adapters.http.rate_limit import RedisBuckets
from gcp_app.settings import Settings
from gcp_domain import Cause

REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET = "rate-limit-test-secret-0123456789abcdefghijklmnop"
RATE = 5  # a second, bursts of 10


@pytest.fixture
def redis_url() -> str:
    """The machine's Redis; CI starts it (.ci/run). Not skipped: a missing Redis is a failure."""
    redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    return REDIS_URL


def test_redis_buckets_are_shared_by_their_clients(redis_url: str) -> None:
    caller = f"caller-{uuid.uuid4().hex}"

    async def run() -> tuple[list[float], list[float]]:
        one, other = RedisBuckets(redis_url, 1), RedisBuckets(redis_url, 1)
        try:
            first = [await one.take(caller), await other.take(caller)]
            third = [await one.take(caller), await other.take(caller)]
        finally:
            await one.close()
            await other.close()
        return first, third

    first, third = asyncio.run(run())
    assert first == [0.0, 0.0]  # a burst of two, taken from two clients
    assert all(0 < wait <= 1.0 for wait in third)


def _serve(env: dict[str, str], workdir: Path) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "gcp_adapters.cli.main", "serve", "--only", "http"]
    process = subprocess.Popen(
        [*command, "--stock", "0"],
        env=env,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 60
    url = None
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("http: "):
            url = line.split()[1]
        if line.startswith("ready:") and url:
            return process, url
    process.kill()
    raise AssertionError("gcp serve did not start")


@pytest.fixture
def two_servers(redis_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    env = {
        **os.environ,
        "GCP_VAR_DIR": str(tmp_path / "var"),
        "GCP_DATABASE_URL": f"sqlite:///{tmp_path / 'gcp.sqlite'}",
        "GCP_JWT_SECRET": SECRET,
        "GCP_HTTP_PORT": "0",
        "GCP_RATE_PER_SECOND": str(RATE),
        "GCP_REDIS_URL": redis_url,
    }
    app = build_application(Settings.from_env(env))
    app.pools.generate_certificates("default", 40, cause=Cause("admin:ops", "stock", "stock"))
    app.close()
    started: list[subprocess.Popen[str]] = []
    try:
        one, url_one = _serve(env, tmp_path)
        started.append(one)
        other, url_other = _serve(env, tmp_path)
        started.append(other)
        yield url_one, url_other
    finally:
        for process in started:
            process.terminate()
            process.wait(30)


def test_two_processes_share_one_callers_bucket(two_servers: tuple[str, str]) -> None:
    """Issue 11, item 3: "shared by all HTTP processes through Redis when GCP_REDIS_URL is set".
    Each process alone would let the caller have its burst of 10: together, 20."""
    token = mint_token(SECRET, f"web-{uuid.uuid4().hex}", ["channel"], timedelta(minutes=5))
    headers = {"Authorization": f"Bearer {token}"}
    statuses: dict[str, list[int]] = {url: [] for url in two_servers}
    started = time.monotonic()
    with httpx.Client(timeout=10) as client:
        for attempt in range(24):
            url = two_servers[attempt % 2]
            response = client.get(f"{url}/certificates/next", headers=headers)
            statuses[url].append(response.status_code)
            if response.status_code == 429:
                assert int(response.headers["Retry-After"]) >= 1
    elapsed = time.monotonic() - started

    granted = sum(codes.count(200) for codes in statuses.values())
    assert 2 * RATE <= granted <= 2 * RATE + math.ceil(RATE * elapsed) + 1, (statuses, elapsed)
    assert all(429 in codes for codes in statuses.values()), statuses  # both saw the shared limit


def test_a_redis_that_does_not_answer_lets_requests_through() -> None:
    """The limit protects the pools: without Redis, reservations go on (and it is logged)."""

    async def run() -> float:
        buckets = RedisBuckets("redis://127.0.0.1:1/0", RATE)
        try:
            return await buckets.take("web-shop")
        finally:
            await buckets.close()

    assert asyncio.run(run()) == 0.0
