"""Limits on a request's head (its request line and headers), enforced as uvicorn reads it.

uvicorn's httptools protocol reads a head of any size, with any number of headers, for as long
as the client takes to send it: a 50 MB Authorization header was parsed, and a client sending
one byte a minute held its connection for ever. BoundedHeadProtocol refuses a head over
MAX_HEAD_BYTES or with more than MAX_HEADERS headers with `431 headers-too-large`, and closes a
connection whose head is not complete HEAD_SECONDS after it began with `408 request-timeout`.
Both are problem details like every other error, written before any of the app runs (so they
are not in the request metrics). A proxy in front should still bound connections per client
(docs/security.md).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# The request line and every header together. Our callers send a bearer token (under 2 KiB)
# and a few short headers; 32 KiB leaves room for a proxy's additions.
MAX_HEAD_BYTES: Final = 32 * 1024
MAX_HEADERS: Final = 100
# From the first byte of a request (or the connection's opening) to the end of its head.
HEAD_SECONDS: Final = 10.0

_REASONS: Final = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class _HeadRefused(Exception):
    """Raised from a parser callback: httptools stops parsing, uvicorn answers (see below)."""


class BoundedHeadProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._head_count = 0
        self._refusal: tuple[int, str, str] | None = None
        self._head_timer: asyncio.TimerHandle | None = None

    # -- the head's clock

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_clock()
        super().connection_lost(exc)

    def _start_head_clock(self) -> None:
        self._stop_head_clock()
        self._head_timer = self.loop.call_later(HEAD_SECONDS, self._head_too_slow)

    def _stop_head_clock(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            detail = f"the request's head did not arrive within {HEAD_SECONDS:g} s"
            self._answer(408, "request-timeout", "Request timeout", detail)

    # -- the parser's callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = self._head_count = 0
        self._start_head_clock()

    def on_url(self, url: bytes) -> None:
        self._count(len(url), headers=0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4, headers=1)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop_head_clock()
        super().on_headers_complete()

    def _count(self, size: int, *, headers: int) -> None:
        self._head_bytes += size
        self._head_count += headers
        if self._head_bytes > MAX_HEAD_BYTES or self._head_count > MAX_HEADERS:
            self._refusal = (
                431,
                "headers-too-large",
                f"a request's line and headers are at most {MAX_HEAD_BYTES} bytes, "
                f"with at most {MAX_HEADERS} headers",
            )
            raise _HeadRefused

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a head the parser gave up on: ours when a limit stopped it."""
        if self._refusal is None:
            super().send_400_response(msg)
            return
        status, slug, detail = self._refusal
        self._answer(status, slug, "Request header fields too large", detail)

    def _answer(self, status: int, slug: str, title: str, detail: str) -> None:
        self._stop_head_clock()
        body = json.dumps(
            {"type": f"urn:gcp:problem:{slug}", "title": title, "status": status, "detail": detail}
        ).encode()
        head = [f"HTTP/1.1 {status} ".encode() + _REASONS[status] + b"\r\n"]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"content-type: application/problem+json\r\n")
        head.append(b"content-length: " + str(len(body)).encode() + b"\r\n")
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + body)
        self.transport.close()
