"""The dashboard page as served: offline-capable (it names no host, so nothing it loads or
links leaves the LRS) and it never parses text as HTML (names, goal titles and ids come from
statements and API callers; the page puts them in the DOM as text only)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from lrs.api.app import create_app
from lrs.settings import LrsSettings

ANY_HOST = re.compile(r"""(?:https?:)?//[\w.-]+""")
HTML_SINKS = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "DOMParser")


@pytest.fixture
async def page() -> AsyncIterator[str]:
    transport = httpx.ASGITransport(app=create_app(LrsSettings()))
    async with httpx.AsyncClient(transport=transport, base_url="http://lrs.test") as client:
        response = await client.get("/dashboard")
        assert response.status_code == 200
        yield response.text


async def test_the_dashboard_names_no_host(page: str) -> None:
    assert ANY_HOST.findall(page) == []
    assert "<script>" in page  # inline: no script file to fetch, no build step


async def test_the_dashboard_sets_text_never_html(page: str) -> None:
    assert [sink for sink in HTML_SINKS if sink in page] == []
    assert "textContent" in page


async def test_every_view_has_its_goals_live(page: str) -> None:
    """The overview, team and learner views each have a goal table, fed by the goal stream."""
    for view in ("overview", "team", "learner"):
        assert f'id="{view}-goals"' in page
        assert f'id="{view}-goals-counts"' in page
        assert f'openGoals("{view}"' in page
    assert '"progress/goals/stream"' in page
