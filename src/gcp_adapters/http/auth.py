"""Who calls: HS256 bearer tokens (Litestar's JWTAuth) with a `roles` claim, and role guards.

A token carries `sub` (who, recorded as the actor `http:<sub>`) and `roles`, a list of
`channel`, `crm`, `support`, `admin`. Each endpoint names the roles it admits, exactly as in
the contract's table; `admin` is not a super-role (an admin cannot read a CVC or reserve a
certificate unless the token also carries that role), so a leaked admin token is no more than
an admin token. Unknown role names in a token are ignored (a newer issuer may know more roles).

No valid token: 401. A valid token without an admitted role: 403. Both are problem details.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import jwt
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.authentication import AuthenticationResult
from litestar.openapi.spec import SecurityRequirement
from litestar.security.jwt import JWTAuth, JWTAuthenticationMiddleware, Token
from litestar.types import Guard

from gcp_adapters.http.store_guard import store_available

ALGORITHM: Final = "HS256"
SECURITY_SCHEME: Final = "BearerToken"
# What an endpoint that needs a token declares in the OpenAPI document.
BEARER: Final[list[SecurityRequirement]] = [{SECURITY_SCHEME: []}]
# What an endpoint open to anyone declares (an empty requirement: no credentials).
ANONYMOUS: Final[list[SecurityRequirement]] = [{}]
# Paths that need no token: the OpenAPI document (health handlers opt out themselves).
PUBLIC_PATHS: Final = ["^/schema"]
# Distinct valid tokens whose verification is remembered (one per client, in practice).
REMEMBERED_TOKENS: Final = 10_000


class Role(StrEnum):
    CHANNEL = "channel"
    CRM = "crm"
    SUPPORT = "support"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """The request's user: the token's subject and the roles GCP knows among its claims."""

    sub: str
    roles: frozenset[Role]

    @property
    def actor(self) -> str:
        return f"http:{self.sub}"


@dataclass
class RoleToken(Token):
    """Litestar's Token with the `roles` claim at the top level of the payload."""

    roles: list[str] = field(default_factory=list)

    def encode(self, secret: str, algorithm: str) -> str:
        claims = {
            k: v for k, v in dataclasses.asdict(self).items() if v is not None and k != "extras"
        }
        return jwt.encode({**self.extras, **claims}, key=secret, algorithm=algorithm)


def mint_token(secret: str, sub: str, roles: Iterable[str], ttl: timedelta) -> str:
    """A signed token for `sub` with `roles`, valid for `ttl` (for `gcp token` and tests)."""
    wanted = [Role(role).value for role in roles]  # An unknown role is a ValueError here.
    token = RoleToken(exp=datetime.now(UTC) + ttl, sub=sub, roles=wanted)
    return token.encode(secret, ALGORITHM)


# The user handler and the guards are coroutines although they do no I/O: Litestar runs a
# plain function on a worker thread, a hop that costs more than the check itself.
async def principal_of(
    token: RoleToken, _connection: ASGIConnection[Any, Any, Any, Any]
) -> Principal:
    known = {role.value for role in Role}
    return Principal(sub=token.sub, roles=frozenset(Role(r) for r in token.roles if r in known))


class RememberingJWTMiddleware(JWTAuthenticationMiddleware):
    """Litestar's JWT middleware, verifying each distinct token once until it expires.

    A channel sends the same token with every request, and decoding and checking its signature
    was a third of the event loop's work per request. The cache key is the whole encoded token
    (header, claims and signature), so only a byte-identical token that already passed every
    check is taken on trust, and only until its `exp`; anything else is checked in full.
    """

    __slots__ = ("_verified",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._verified: dict[str, tuple[float, AuthenticationResult]] = {}

    async def authenticate_token(
        self, encoded_token: str, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        known = self._verified.get(encoded_token)
        if known is not None and time.time() < known[0]:
            return known[1]
        result = await super().authenticate_token(encoded_token, connection)
        if len(self._verified) >= REMEMBERED_TOKENS:
            self._verified.clear()  # Bounded: a flood of distinct tokens costs only re-checks.
        self._verified[encoded_token] = (result.auth.exp.timestamp(), result)
        return result


def jwt_auth(secret: str) -> JWTAuth[Principal, RoleToken]:
    return JWTAuth[Principal, RoleToken](
        authentication_middleware_class=RememberingJWTMiddleware,
        token_secret=secret,
        retrieve_user_handler=principal_of,
        token_cls=RoleToken,
        algorithm=ALGORITHM,
        exclude=PUBLIC_PATHS,
        openapi_security_scheme_name=SECURITY_SCHEME,
        description="HS256 JWT with claims `sub` and `roles` (channel, crm, support, admin).",
        # A token without `roles` is not GCP's: 401, not a 403 that says it was understood.
        require_claims=["exp", "iat", "sub", "roles"],
    )


# What a guard does, as a coroutine (see principal_of for why not a plain function).
Check = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def requires(*roles: Role) -> Check:
    """A check admitting a principal with at least one of `roles` (and nobody else)."""
    admitted = frozenset(roles)
    refusal = "this endpoint needs the role " + " or ".join(roles)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = connection.scope.get("user")
        if not isinstance(user, Principal) or user.roles.isdisjoint(admitted):
            raise PermissionDeniedException(refusal)

    return guard


def access(*roles: Role, limits: Check | None = None) -> dict[str, Any]:
    """The route-handler arguments of an endpoint for `roles`: its guard (the store's
    availability, which every guarded endpoint needs, then the roles, then `limits`, a rate
    limit), its security requirement in the OpenAPI document, and the roles as `opt` (for
    middleware and tools; each handler's docstring, the operation's description, names them
    for people).

    The checks make one guard because Litestar copies the route handler for every guard it
    calls: with one guard a check, the copies were a tenth of a read's work."""
    checks = [store_available, requires(*roles), *([limits] if limits else [])]

    async def guard(
        connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        for check in checks:
            await check(connection, handler)

    guards: list[Guard] = [guard]
    return {"guards": guards, "security": BEARER, "opt": {"roles": list(roles)}}
