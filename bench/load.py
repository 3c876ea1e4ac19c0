"""A lean HTTP/1.1 load generator: keep-alive connections on asyncio streams, one request in
flight per connection.

The server, PostgreSQL and the load generator share this machine's two cores, so every
microsecond the client spends is taken from the server. A general client (httpx) costs about
half a millisecond of CPU per request; this one writes a prepared request and parses only the
status line and Content-Length, a few microseconds. It speaks just what the bench needs: GET,
a fixed set of headers, responses with a Content-Length (Litestar always sends one for JSON).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

HEADER_END: Final = b"\r\n\r\n"


class LoadError(Exception):
    """The server's answer could not be read (closed connection, no Content-Length)."""


class Connection:
    """One keep-alive connection; `get` sends a request and returns (status, body)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes):
        self._reader = reader
        self._writer = writer
        self._head = head  # the request's header lines after the request line, CRLF-terminated

    @classmethod
    async def open(cls, host: str, port: int, headers: dict[str, str]) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        lines = [f"Host: {host}:{port}", *(f"{name}: {value}" for name, value in headers.items())]
        return cls(reader, writer, ("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))

    async def get(self, path: str) -> tuple[int, bytes]:
        self._writer.write(b"GET " + path.encode("ascii") + b" HTTP/1.1\r\n" + self._head)
        try:
            head = await self._reader.readuntil(HEADER_END)
        except asyncio.IncompleteReadError as error:
            raise LoadError("the server closed the connection") from error
        status = int(head[9:12])
        length = _content_length(head)
        body = await self._reader.readexactly(length) if length else b""
        return status, body

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise LoadError("a response without Content-Length")
