"""The API's documentation pages, served by the service itself.

`/schema` (and `/schema/swagger`) is Swagger UI over the OpenAPI document; the document itself
stays at `/schema/openapi.json` (the contract). Swagger UI's scripts and styles come from the
`swagger-ui-py` package, installed with GCP, and are served under `/schema/assets`: nothing is
fetched from a CDN, so the pages work on a machine with no internet access and leak no request
to a third party. The pages are public, like the document (the API's shape is no secret; every
call the page makes still needs a bearer token: "Authorize" takes one).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Annotated, Final

from litestar import get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.params import PathParameter
from litestar.response import File

ASSETS: Final = "/schema/assets"
# Only what the page loads (the package also carries an editor the service does not offer),
# with the media type of each.
_FILES: Final = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
    "LICENSE": "text/plain",
}


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """Swagger UI first (the page `/schema` shows), then the JSON document."""
    swagger = SwaggerRenderPlugin(
        js_url=f"{ASSETS}/swagger-ui-bundle.js",
        css_url=f"{ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
        path="/swagger",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>",
    )
    return [swagger, JsonRenderPlugin()]


def _static() -> Path:
    return Path(str(files("swagger_ui") / "static"))


@get(
    f"{ASSETS}/{{name:str}}",
    include_in_schema=False,
    sync_to_thread=False,
    cache_control=CacheControlHeader(max_age=86_400, public=True),
)
def api_docs_asset(name: Annotated[str, PathParameter(max_length=64)]) -> File:
    """One of Swagger UI's files, from the installed package."""
    media_type = _FILES.get(name)
    if media_type is None:
        raise NotFoundException()
    return File(_static() / name, media_type=media_type, content_disposition_type="inline")


ROUTES: Final[list[HTTPRouteHandler]] = [api_docs_asset]
