"""A request's head is bounded as uvicorn reads it: size, header count and the time it takes
(issue 11: a 50 MB Authorization header was parsed; a slow head held its connection for ever)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gcp_adapters.http import bounded_head
from gcp_adapters.service import HTTP

from .conftest import running_service

SECRET = "bounded-head-secret-0123456789abcdefghijklmnopqrstuvwxyz-0123456789"


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, int]]:
    monkeypatch.setattr(bounded_head, "HEAD_SECONDS", 1.0)
    with running_service(tmp_path, [HTTP], SECRET) as service:
        assert service.http is not None
        yield "127.0.0.1", service.http.port


def exchange(address: tuple[str, int], *chunks: bytes, pause: float = 0.0) -> bytes:
    """Sends `chunks` (pausing between them), then reads until the server closes or 5 s."""
    with socket.create_connection(address, timeout=5) as connection:
        for chunk in chunks:
            try:
                connection.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered and closed while we were still sending
            time.sleep(pause)
        received = b""
        try:
            while part := connection.recv(65536):
                received += part
        except (TimeoutError, ConnectionResetError):
            pass
        return received


def problem_of(response: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/problem+json" in head.lower()
    return status, json.loads(body)


def request(*headers: str, path: str = "/health/live") -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: gcp", "Connection: close", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_an_ordinary_request_is_served(served: tuple[str, int]) -> None:
    answer = exchange(served, request(*(f"X-Extra-{n}: {n}" for n in range(40))))
    assert answer.startswith(b"HTTP/1.1 200")


def test_a_huge_header_is_431_before_it_is_read_whole(served: tuple[str, int]) -> None:
    huge = request("Authorization: Bearer " + "a" * (5 * 1024 * 1024))

    status, problem = problem_of(exchange(served, huge[:65536], huge[65536:]))

    assert status == 431
    assert problem["type"] == "urn:gcp:problem:headers-too-large"
    assert str(bounded_head.MAX_HEAD_BYTES) in problem["detail"]


def test_too_many_headers_is_431(served: tuple[str, int]) -> None:
    many = request(*(f"X-Extra-{n}: {n}" for n in range(bounded_head.MAX_HEADERS + 1)))
    status, problem = problem_of(exchange(served, many))
    assert (status, problem["type"]) == (431, "urn:gcp:problem:headers-too-large")


def test_a_huge_query_is_431_as_a_problem(served: tuple[str, int]) -> None:
    status, _ = problem_of(exchange(served, request(path="/pools/default?x=" + "y" * 65536)))
    assert status == 431


def test_a_head_that_trickles_in_is_cut_off_with_408(served: tuple[str, int]) -> None:
    started = time.monotonic()
    trickle = [b"GET /health/live HTTP/1.1\r\n"] + [f"X-{n}: {n}\r\n".encode() for n in range(30)]

    status, problem = problem_of(exchange(served, *trickle, pause=0.1))

    assert (status, problem["type"]) == (408, "urn:gcp:problem:request-timeout")
    assert time.monotonic() - started < 4  # cut after HEAD_SECONDS (1 s here), not 3 s of trickle


def test_a_connection_that_sends_nothing_is_closed(served: tuple[str, int]) -> None:
    started = time.monotonic()
    status, _ = problem_of(exchange(served))
    assert status == 408
    assert time.monotonic() - started < 4


def test_a_kept_alive_connection_serves_its_next_request(served: tuple[str, int]) -> None:
    keep = b"GET /health/live HTTP/1.1\r\nHost: gcp\r\n\r\n"
    with socket.create_connection(served, timeout=5) as connection:
        for _ in range(2):
            connection.sendall(keep)
            answer = connection.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200"), answer
            time.sleep(0.6)  # each head is timed on its own: 1.2 s in all is no timeout


def test_the_limits_do_not_block_the_server(served: tuple[str, int]) -> None:
    """While one client trickles its head, others are served."""
    slow = threading.Thread(
        target=exchange, args=(served, b"GET / HTTP/1.1\r\n", b"X: 1\r\n"), kwargs={"pause": 0.5}
    )
    slow.start()
    try:
        assert exchange(served, request()).startswith(b"HTTP/1.1 200")
    finally:
        slow.join()
