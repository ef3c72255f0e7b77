"""The documentation pages and the landing page are served by the LRS itself: every script,
style sheet, icon and link they reference is a path on the LRS that answers, and none is a
remote URL (a CDN would leave /docs blank without internet access)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from lrs.api.app import create_app
from lrs.settings import LrsSettings

BASE = "http://lrs.test"
# src="...", href="...", spec-url="...", and the `url: '...'` Swagger UI is configured with
REFERENCE = re.compile(r"""(?:\b(?:src|href|spec-url)\s*=\s*|\burl:\s*)["']([^"']+)["']""")
CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)""")
ANY_URL = re.compile(r"""(?:https?:)?//[\w.-]+""")
SOURCE_MAP = re.compile(r"sourceMappingURL=(\S+)")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(LrsSettings()))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


def remote(url: str) -> bool:
    """Whether `url`, as the page at BASE resolves it, leaves the LRS (data: URLs stay)."""
    parts = urlsplit(urljoin(BASE + "/", url))
    return parts.scheme not in ("data", "") and parts.netloc != urlsplit(BASE).netloc


def references(page: str) -> list[str]:
    return REFERENCE.findall(page)


async def fetched_assets(http: httpx.AsyncClient, page: str) -> dict[str, str]:
    """Every asset `page` references (it must answer 200), by URL; what each asset references
    in turn must not be remote either."""
    found = {}
    for url in references(page):
        assert not remote(url), f"{url} is a remote URL"
        response = await http.get(url)
        assert response.status_code == 200, f"{url}: {response.status_code}"
        found[url] = response.text if "image" not in response.headers["content-type"] else ""
    return found


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_page_and_its_assets_reference_nothing_remote(
    http: httpx.AsyncClient, page: str
) -> None:
    response = await http.get(page)
    assert response.status_code == 200
    html = response.text
    assert ANY_URL.findall(html) == []  # the page itself names no host at all
    assets = await fetched_assets(http, html)
    assert "/openapi.json" in assets
    assert any(url.endswith(".js") for url in assets)
    for url, text in assets.items():
        loaded = CSS_URL.findall(text) if url.endswith(".css") else []
        loaded += SOURCE_MAP.findall(text)
        assert [u for u in loaded if remote(u)] == [], f"{url} loads remote files"


async def test_swagger_ui_is_told_not_to_call_the_public_validator(
    http: httpx.AsyncClient,
) -> None:
    html = (await http.get("/docs")).text
    assert '"validatorUrl": null' in html


@pytest.mark.parametrize("name", ["index.html", "swagger-ui.css.map", "..%2F__init__.py"])
async def test_only_the_listed_assets_are_served(http: httpx.AsyncClient, name: str) -> None:
    response = await http.get(f"/docs/assets/{name}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] in ("not_found", "http_error")


async def test_root_redirects_to_a_landing_page_linking_docs_dashboard_and_xapi(
    http: httpx.AsyncClient,
) -> None:
    redirect = await http.get("/")
    assert redirect.status_code == 307
    landing = await http.get(urljoin(BASE + "/", redirect.headers["location"]))
    assert landing.status_code == 200
    assert landing.headers["content-type"].startswith("text/html")
    links = {urlsplit(urljoin(str(landing.url), u)).path for u in references(landing.text)}
    assert {"/docs", "/dashboard", "/xapi/about", "/redoc", "/openapi.json"} <= links
    assert [u for u in references(landing.text) if remote(u)] == []
    assert "/xapi/" in landing.text
    assert "secret" in landing.text  # how to log in to the dashboard
    for path in links:
        assert (await http.get(path)).status_code == 200, path
