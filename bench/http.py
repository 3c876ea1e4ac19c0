"""(d) HTTP: the Litestar app under uvicorn in a process of its own, loaded by async clients.

`run` stocks a pool (not timed), starts `python -m bench.http` (this module's `_serve`: the
app of `create_http_app` on uvicorn, 127.0.0.1, a free port) and drives it from this process
with `clients` concurrent httpx clients: first `GET /certificates/next?pool=...` for
`duration` seconds (or until every stocked certificate is reserved), then
`GET /certificates/{id}` over the reserved ids for `get_duration` seconds; both with a channel
token. Latencies are measured per request, client side (so they include the client's own
scheduling on a shared machine).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from itertools import cycle
from pathlib import Path
from typing import Any, Final

import httpx

from bench import store
from gcp_app.application import GiftCertificates

SCHEMA: Final = "http"
CHANNEL: Final = "WEB"
SECRET_ENV: Final = "GCP_BENCH_JWT_SECRET"  # noqa: S105 (a variable's name, not a secret)
KEY_ENV: Final = "GCP_BENCH_CIPHER_KEY"
READY_TIMEOUT: Final = 60.0
STOP_TIMEOUT: Final = 15.0


class HttpFailed(Exception):
    pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return math.nan
    index = max(math.ceil(fraction * len(sorted_values)) - 1, 0)
    return sorted_values[index]


def run(
    database: str,
    var_dir: Path,
    key: str,
    *,
    certificates: int = 30_000,
    clients: int = 32,
    duration: float = 15.0,
    get_duration: float = 10.0,
    log_path: Path,
) -> dict[str, Any]:
    """Stocks `certificates` in a schema of its own, serves the app in a subprocess and loads
    it. Raises HttpFailed if the server does not come up (its output is in `log_path`)."""
    from gcp_adapters.http.auth import mint_token  # noqa: PLC0415 (only the HTTP part needs it)

    store.create_schema(database, SCHEMA)
    app = GiftCertificates(store.settings_for(database, SCHEMA, var_dir, key))
    try:
        stock_started = time.monotonic()
        app.generate_certificates(store.POOL, certificates, cause=store.CAUSE)
        stock_elapsed = time.monotonic() - stock_started
    finally:
        app.close()
    secret = secrets.token_urlsafe(48)
    token = mint_token(secret, CHANNEL, ["channel"], timedelta(hours=1))
    port = _free_port()
    env = {**os.environ, SECRET_ENV: secret, KEY_ENV: key}
    command = [sys.executable, "-m", "bench.http", database, str(var_dir), str(port)]
    with log_path.open("ab") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        base = f"http://127.0.0.1:{port}"
        figures = asyncio.run(
            _load(
                base,
                token,
                server,
                clients=clients,
                duration=duration,
                get_duration=get_duration,
                limit=certificates,
            )
        )
    finally:
        server.terminate()
        try:
            server.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    figures.update(
        {
            "http_certificates_stocked": certificates,
            "http_stock_elapsed_s": stock_elapsed,
            "http_clients": clients,
            "http_log": str(log_path),
        }
    )
    return figures


async def _wait_ready(client: httpx.AsyncClient, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise HttpFailed(f"the server exited with status {server.returncode}")
        try:
            if (await client.get("/health/live")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise HttpFailed(f"the server did not answer /health/live within {READY_TIMEOUT:.0f} s")


async def _load(
    base: str,
    token: str,
    server: subprocess.Popen[bytes],
    *,
    clients: int,
    duration: float,
    get_duration: float,
    limit: int,
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=30.0
    ) as client:
        await _wait_ready(client, server)
        # One request each, not timed: connections open, the server warm.
        await client.get(f"/certificates/next?pool={store.POOL}")
        next_figures, ids = await _next_phase(client, clients, duration, limit - 1)
        get_figures = await _get_phase(client, clients, get_duration, ids)
    return {**next_figures, **get_figures, "errors": next_figures["next_errors"]
            + get_figures["get_errors"]}  # fmt: skip


async def _next_phase(
    client: httpx.AsyncClient, clients: int, duration: float, limit: int
) -> tuple[dict[str, Any], list[str]]:
    latencies: list[float] = []
    ids: list[str] = []
    errors = 0
    issued = 0
    url = f"/certificates/next?pool={store.POOL}"
    started = time.perf_counter()
    deadline = started + duration

    async def worker() -> None:
        nonlocal errors, issued
        while time.perf_counter() < deadline and issued < limit:
            issued += 1
            sent = time.perf_counter()
            try:
                response = await client.get(url)
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - sent)
            if response.status_code == 200:
                ids.append(response.json()["certificateId"])
            else:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "next_requests": len(latencies),
        "next_reserved": len(ids),
        "next_errors": errors,
        "next_elapsed_s": elapsed,
        "next_per_s": len(ids) / elapsed,
        "next_p50_ms": _percentile(latencies, 0.50) * 1000,
        "next_p99_ms": _percentile(latencies, 0.99) * 1000,
        "next_max_ms": (latencies[-1] if latencies else math.nan) * 1000,
        "next_duplicates": len(ids) - len(set(ids)),
    }, ids


async def _get_phase(
    client: httpx.AsyncClient, clients: int, duration: float, ids: list[str]
) -> dict[str, Any]:
    if not ids:
        return {"get_requests": 0, "get_errors": 0, "get_per_s": 0.0}
    latencies: list[float] = []
    errors = 0
    targets: Iterator[str] = cycle(ids)
    started = time.perf_counter()
    deadline = started + duration

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            try:
                response = await client.get(f"/certificates/{next(targets)}")
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - sent)
            if response.status_code != 200:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    ok = len(latencies) - errors
    return {
        "get_requests": len(latencies),
        "get_errors": errors,
        "get_elapsed_s": elapsed,
        "get_per_s": max(ok, 0) / elapsed,
        "get_p50_ms": _percentile(latencies, 0.50) * 1000,
        "get_p99_ms": _percentile(latencies, 0.99) * 1000,
    }


def _serve(argv: list[str]) -> None:
    """The server process: `python -m bench.http DATABASE VAR_DIR PORT` (secrets in the
    environment, not on the command line)."""
    import uvicorn  # noqa: PLC0415

    from gcp_adapters.http.app import create_http_app  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m bench.http")
    parser.add_argument("database")
    parser.add_argument("var_dir", type=Path)
    parser.add_argument("port", type=int)
    arguments = parser.parse_args(argv)
    settings = store.settings_for(
        arguments.database, SCHEMA, arguments.var_dir, os.environ[KEY_ENV]
    )
    app = GiftCertificates(settings)
    try:
        http_app = create_http_app(app, jwt_secret=os.environ[SECRET_ENV])
        uvicorn.run(
            http_app, host="127.0.0.1", port=arguments.port, log_level="warning", access_log=False
        )
    finally:
        app.close()


if __name__ == "__main__":
    _serve(sys.argv[1:])
