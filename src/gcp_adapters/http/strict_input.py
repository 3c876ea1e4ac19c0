"""Strict input (contract 1.1), checked before every handler: what Litestar would read leniently
is refused with a problem instead.

- A request body is JSON and says so (`Content-Type: application/json` or `+json`): a form, XML
  or plain text is `415 unsupported-media-type`, before anything reads it.
- A JSON object names each key once: with a key twice, which one counts would be the decoder's
  choice, not the caller's (`400 invalid-request`).
- A query parameter is given once: `?pool=a&pool=b` is `400`, not "the last one wins".
- A body nested too deep for the decoder is `400`, never a `500` (`problems.TOO_DEEP`).
- A body has the JSON types its model says: an integer is a JSON number, not `"1e3"`, `"5"` or
  `true` (Litestar converts leniently, for query strings; a body has types of its own). As in
  JSON Schema, a number with no fraction (`5.0`) is an integer.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import msgspec
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
        document = json.loads(body, object_pairs_hook=_each_key_once)
    except _DuplicateKey as twice:
        raise _refused(f"the JSON body names the key {twice} more than once") from None
    except ValueError:
        return  # Not JSON at all: the handler's decoding says so, as it always has.
    model = _body_model(request)
    if model is not None:
        try:
            msgspec.convert(_integers_as_integers(document), model, strict=True)
        except msgspec.ValidationError as wrong:
            raise _refused(str(wrong)) from None


def _body_model(request: Request[Any, Any, Any]) -> type[msgspec.Struct] | None:
    """The model of the handler's `data` (its JSON body), if it has one."""
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    model = data.annotation if data is not None else None
    return model if isinstance(model, type) and issubclass(model, msgspec.Struct) else None


def _integers_as_integers(document: Any) -> Any:
    """`document` with each number that has no fraction as an int (JSON Schema's integer)."""
    if isinstance(document, float) and document.is_integer():
        return int(document)
    if isinstance(document, dict):
        return {key: _integers_as_integers(value) for key, value in document.items()}
    if isinstance(document, list):
        return [_integers_as_integers(value) for value in document]
    return document
