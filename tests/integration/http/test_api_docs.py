"""The API's documentation page: Swagger UI from the service itself, nothing from a CDN."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar.testing import TestClient

from gcp_adapters.http.api_docs import ASSETS


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger"])
def test_the_docs_page_loads_only_the_services_own_assets(
    client: TestClient[Any], path: str
) -> None:
    page = client.get(path)  # no token: the API's shape is public, its calls are not

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle" in page.text
    loaded = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert loaded, page.text
    assert all(url.startswith(f"{ASSETS}/") for url in loaded), loaded
    assert "cdn" not in page.text.lower()
    assert "unpkg" not in page.text.lower()
    for url in loaded:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
        assert "max-age=86400" in asset.headers["cache-control"]


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("favicon-32x32.png", "image/png"),
    ],
)
def test_assets_have_their_media_type(client: TestClient[Any], name: str, media_type: str) -> None:
    asset = client.get(f"{ASSETS}/{name}")
    assert asset.status_code == 200
    assert asset.headers["content-type"].startswith(media_type)


@pytest.mark.parametrize(
    "name", ["swagger-editor.js", "..%2F..%2Fswagger_ui%2F__init__.py", "index.html", "nope"]
)
def test_nothing_else_of_the_package_is_served(client: TestClient[Any], name: str) -> None:
    assert client.get(f"{ASSETS}/{name}").status_code == 404


def test_the_document_stays_json_at_its_contract_path(client: TestClient[Any]) -> None:
    document = client.get("/schema/openapi.json")
    assert document.status_code == 200
    assert document.json()["openapi"].startswith("3.1")
    assert ASSETS not in document.text  # the assets are no part of the API
