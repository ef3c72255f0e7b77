"""/docs in a real headless Chromium whose network reaches only the LRS (every other host name
resolves to nothing): Swagger UI renders the xAPI operations with their parameters and the
Authorize button, and no request the page makes goes anywhere but the LRS."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from lrs.settings import LrsSettings
from tests.support.adapters import app_adapters
from tests.support.cdp import Page, browser_page, chromium_path
from tests.support.live import live_api

pytestmark = pytest.mark.e2e
# Chromium resolves no host name but the LRS's address (an IP literal needs no resolving).
LRS_ONLY = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"
RENDER_WAIT = 60.0
STATEMENT_QUERY = [
    "statementId",
    "voidedStatementId",
    "agent",
    "verb",
    "activity",
    "registration",
    "related_activities",
    "related_agents",
    "since",
    "until",
    "limit",
    "format",
    "attachments",
    "ascending",
]
OPERATION = """(() => [...document.querySelectorAll('.opblock-get')].find(
    b => b.querySelector('.opblock-summary-path')?.textContent.trim() === '/xapi/statements'))()"""
PARAMETER_NAMES = f"""(() => {{
    const op = {OPERATION};
    return op ? [...op.querySelectorAll('.parameter__name')]
        .map(e => e.firstChild?.textContent.trim()) : [];
}})()"""


@pytest.fixture
async def lrs() -> AsyncIterator[str]:
    chromium_path()  # fails (never skips) when the browser is missing
    async with live_api(LrsSettings(), app_adapters()) as base:
        yield base


def requested(page: Page) -> list[str]:
    return [
        e["params"]["request"]["url"]
        for e in page.events
        if e["method"] == "Network.requestWillBeSent"
    ]


def failed(page: Page) -> list[str]:
    return [json.dumps(e["params"]) for e in page.events if e["method"] == "Network.loadingFailed"]


async def test_docs_render_offline_with_the_statement_parameters(lrs: str, tmp_path: Path) -> None:
    async with browser_page("about:blank", [LRS_ONLY]) as page:
        await page.call("Network.enable")
        await page.call("Page.navigate", url=f"{lrs}/docs")
        await page.wait_for(
            "document.querySelectorAll('.opblock').length > 30",
            RENDER_WAIT,
            "Swagger UI did not render the operations",
        )
        assert await page.evaluate("document.querySelector('.btn.authorize') !== null")
        assert await page.evaluate("document.querySelector('.errors-wrapper')") is None
        await page.evaluate(f"{OPERATION}.querySelector('.opblock-summary-control').click()")
        shown = await page.wait_for(
            f"(() => {{ const n = {PARAMETER_NAMES}; return n.length > 10 && n; }})()",
            RENDER_WAIT,
            "GET /xapi/statements shows no parameters",
        )
        await page.call(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=1600,
            deviceScaleFactor=1,
            mobile=False,
        )
        await page.evaluate(f"{OPERATION}.scrollIntoView()")
        shot = await page.call("Page.captureScreenshot", format="png")
        (tmp_path / "docs.png").write_bytes(base64.b64decode(shot["data"]))
        urls = requested(page)
        failures = failed(page)
    assert set(STATEMENT_QUERY) <= set(shown)
    assert "X-Experience-API-Version" in shown
    lrs_host = urlsplit(lrs).netloc
    assert f"{lrs}/openapi.json" in urls
    elsewhere = [u for u in urls if urlsplit(u).netloc != lrs_host and not u.startswith("data:")]
    assert elsewhere == []
    assert failures == []
