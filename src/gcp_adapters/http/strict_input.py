"""Strict input (contract 1.1), checked before every handler: what Litestar would read leniently
is refused with a problem instead.

- A request body is JSON and says so (`Content-Type: application/json` or `+json`): a form, XML
  or plain text is `415 unsupported-media-type`, before anything reads it.
- A JSON object names each key once: with a key twice, which one counts would be the decoder's
  choice, not the caller's (`400 invalid-request`).
- A query parameter is given once: `?pool=a&pool=b` is `400`, not "the last one wins".
- A body nested too deep for the decoder is `400`, never a `500` (`problems.TOO_DEEP`).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from litestar import Request
from litestar.exceptions import ValidationException

from gcp_adapters.http.problems import UnsupportedMediaType

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class _DuplicateKey(ValueError):
    pass


def _each_key_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen = Counter(key for key, _ in pairs)
    twice = sorted(key for key, count in seen.items() if count > 1)
    if twice:
        raise _DuplicateKey(twice[0])
    return dict(pairs)


def _refused(message: str) -> ValidationException:
    return ValidationException(detail=message, extra=[{"message": message}])


async def strict_requests(request: Request[Any, Any, Any]) -> None:
    """Litestar's before_request hook: raises the problem of a request that is not strict."""
    given = Counter(key for key, _ in request.query_params.multi_items())
    repeated = sorted(key for key, count in given.items() if count > 1)
    if repeated:
        raise _refused(f"query parameter {repeated[0]} is given more than once")
    if request.method not in _WITH_BODY:
        return
    body = await request.body()  # kept by the request: the handler reads it again for free
    if not body:
        return
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType()
    try:
        json.loads(body, object_pairs_hook=_each_key_once)
    except _DuplicateKey as twice:
        raise _refused(f"the JSON body names the key {twice} more than once") from None
    except ValueError:
        return  # Not JSON at all: the handler's decoding says so, as it always has.
