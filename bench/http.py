"""(d) HTTP: the Litestar app under uvicorn in processes of their own, loaded by async clients.

`run` stocks a pool (not timed), starts the service's HTTP part as deployed on this host (`gcp
serve --only http`, configured by environment: the run's database, 127.0.0.1, a free port),
one process a core sharing the port (GCP_HTTP_REUSE_PORT; the kernel spreads the connections),
and drives it over `clients` keep-alive connections of `bench.load`, one request in flight on
each: first `GET /certificates/next?pool=...` for `duration` seconds (or until every stocked
certificate is reserved), then `GET /certificates/{id}` over the reserved ids for
`get_duration` seconds; both with a channel token. With more than one process, every process
but one is then stopped and the reads run again on new connections: what one process serves
(`get_one_process_*`, the figure to size by). Latencies are measured per request, client side
(so they include the client's own scheduling on a shared machine).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from itertools import cycle
from pathlib import Path
from typing import IO, Any, Final

from bench import store
from bench.load import Connection
from gcp_adapters.bootstrap import build_application

SCHEMA: Final = "http"
CHANNEL: Final = "WEB"
READY_TIMEOUT: Final = 60.0
STOP_TIMEOUT: Final = 15.0


class HttpFailed(Exception):
    pass


def _event_loop() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where installed (as the server has it): the load generator shares the cores
    with the server, and every microsecond it spends is taken from the server."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return None
    return uvloop.new_event_loop


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of values sorted ascending (NaN for none)."""
    if not sorted_values:
        return math.nan
    index = max(math.ceil(fraction * len(sorted_values)) - 1, 0)
    return sorted_values[index]


def run(
    database: str,
    var_dir: Path,
    key: str,
    *,
    certificates: int = 45_000,
    clients: int = 32,
    duration: float = 15.0,
    get_duration: float = 10.0,
    processes: int = 1,
    log_path: Path,
) -> dict[str, Any]:
    """Stocks `certificates` in a schema of its own, serves the app in `processes` processes
    and loads it. Raises HttpFailed if a server does not come up (its output is in
    `log_path`)."""
    from gcp_adapters.http.auth import mint_token  # noqa: PLC0415 (only the HTTP part needs it)

    store.create_schema(database, SCHEMA)
    app = build_application(store.settings_for(database, SCHEMA, var_dir, key))
    try:
        stock_started = time.monotonic()
        app.pools.generate_certificates(store.POOL, certificates, cause=store.CAUSE)
        stock_elapsed = time.monotonic() - stock_started
    finally:
        app.close()
    secret = secrets.token_urlsafe(48)
    token = mint_token(secret, CHANNEL, ["channel"], timedelta(hours=1))
    port = _free_port()
    # The deployed command, configured as an operator would (secrets in the environment).
    env = {
        **os.environ,
        "GCP_DATABASE_URL": f"{database}?schema={SCHEMA}",
        "GCP_VAR_DIR": str(var_dir),
        "GCP_CIPHER_KEY": key,
        "GCP_JWT_SECRET": secret,
        "GCP_HTTP_HOST": "127.0.0.1",
        "GCP_HTTP_PORT": str(port),
        # The limit is checked on every reservation (its cost is measured) but never reached:
        # the bench's 32 clients share one token.
        "GCP_RATE_PER_SECOND": "1000000000",
        "GCP_HTTP_REUSE_PORT": "true",
    }
    servers: list[subprocess.Popen[str]] = []
    try:
        with log_path.open("a") as log:
            for _ in range(processes):
                servers.append(_serve(env, log))
        with asyncio.Runner(loop_factory=_event_loop()) as runner:
            figures = runner.run(
                _load(
                    "127.0.0.1",
                    port,
                    token,
                    clients=clients,
                    duration=duration,
                    get_duration=get_duration,
                    limit=certificates,
                    fewer=(lambda: _stop(servers[1:])) if processes > 1 else None,
                )
            )
    finally:
        _stop(servers)
    figures.update(
        {
            "http_certificates_stocked": certificates,
            "http_stock_elapsed_s": stock_elapsed,
            "http_clients": clients,
            "http_processes": processes,
            "http_log": str(log_path),
        }
    )
    return figures


def _serve(env: dict[str, str], log: IO[str]) -> subprocess.Popen[str]:
    """Starts one `gcp serve --only http` and returns once it says `ready:`."""
    command = [sys.executable, "-m", "gcp_adapters.cli.main", "serve", "--only", "http"]
    server = subprocess.Popen(  # noqa: S603
        [*command, "--stock", "0"], env=env, stdout=subprocess.PIPE, stderr=log, text=True
    )
    assert server.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT
    for line in server.stdout:
        log.write(line)
        if line.startswith("ready:"):
            log.flush()
            return server
        if time.monotonic() > deadline:
            break
    _stop([server])
    raise HttpFailed(f"a server was not ready within {READY_TIMEOUT:.0f} s (exit {server.poll()})")


def _stop(servers: list[subprocess.Popen[str]]) -> None:
    for server in servers:
        if server.poll() is None:
            server.terminate()
    for server in servers:
        try:
            server.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


async def _load(
    host: str,
    port: int,
    token: str,
    *,
    clients: int,
    duration: float,
    get_duration: float,
    limit: int,
    fewer: Callable[[], None] | None,
) -> dict[str, Any]:
    """Reservations, then reads; with `fewer` (more than one process), reads again after it
    stopped all processes but one."""
    headers = {"Authorization": f"Bearer {token}"}
    connections = [await Connection.open(host, port, headers) for _ in range(clients)]
    try:
        # One request each, not timed: connections open, the servers warm.
        for connection in connections[:4]:
            await connection.get(f"/certificates/next?pool={store.POOL}")
        next_figures, ids = await _next_phase(connections, duration, limit - 4)
        figures = {**next_figures, **await _get_phase(connections, get_duration, ids)}
    finally:
        for connection in connections:
            await connection.close()
    errors = figures["next_errors"] + figures["get_errors"]
    if fewer is not None:
        fewer()
        connections = [await Connection.open(host, port, headers) for _ in range(clients)]
        try:
            one = await _get_phase(connections, get_duration, ids)
        finally:
            for connection in connections:
                await connection.close()
        errors += one["get_errors"]
        figures.update({f"get_one_process_{k[4:]}": v for k, v in one.items()})
    return {**figures, "errors": errors}


async def _next_phase(
    connections: list[Connection], duration: float, limit: int
) -> tuple[dict[str, Any], list[str]]:
    latencies: list[float] = []
    ids: list[str] = []
    errors = 0
    issued = 0
    url = f"/certificates/next?pool={store.POOL}"
    started = time.perf_counter()
    deadline = started + duration

    async def worker(connection: Connection) -> None:
        nonlocal errors, issued
        while time.perf_counter() < deadline and issued < limit:
            issued += 1
            sent = time.perf_counter()
            status, body = await connection.get(url)
            latencies.append(time.perf_counter() - sent)
            if status == 200:
                ids.append(json.loads(body)["certificateId"])
            else:
                errors += 1

    await asyncio.gather(*(worker(connection) for connection in connections))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "next_requests": len(latencies),
        "next_reserved": len(ids),
        "next_errors": errors,
        "next_elapsed_s": elapsed,
        "next_per_s": len(ids) / elapsed,
        "next_p50_ms": percentile(latencies, 0.50) * 1000,
        "next_p99_ms": percentile(latencies, 0.99) * 1000,
        "next_max_ms": (latencies[-1] if latencies else math.nan) * 1000,
        "next_duplicates": len(ids) - len(set(ids)),
    }, ids


async def _get_phase(
    connections: list[Connection], duration: float, ids: list[str]
) -> dict[str, Any]:
    if not ids:
        return {"get_requests": 0, "get_errors": 0, "get_per_s": 0.0}
    latencies: list[float] = []
    errors = 0
    targets: Iterator[str] = cycle(ids)
    started = time.perf_counter()
    deadline = started + duration

    async def worker(connection: Connection) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            status, _ = await connection.get(f"/certificates/{next(targets)}")
            latencies.append(time.perf_counter() - sent)
            if status != 200:
                errors += 1

    await asyncio.gather(*(worker(connection) for connection in connections))
    elapsed = time.perf_counter() - started
    latencies.sort()
    ok = len(latencies) - errors
    return {
        "get_requests": len(latencies),
        "get_errors": errors,
        "get_elapsed_s": elapsed,
        "get_per_s": max(ok, 0) / elapsed,
        "get_p50_ms": percentile(latencies, 0.50) * 1000,
        "get_p99_ms": percentile(latencies, 0.99) * 1000,
    }
