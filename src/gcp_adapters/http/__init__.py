"""The HTTP API (Litestar): `create_http_app` builds it, `HttpServer` serves it."""

from gcp_adapters.http.app import create_http_app
from gcp_adapters.http.auth import Principal, Role, mint_token

__all__ = ["Principal", "Role", "create_http_app", "mint_token"]
