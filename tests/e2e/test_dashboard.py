"""The dashboard in a real headless browser against `lrs serve`: a team with members, the page
open, a statement posted for a member, and the page showing the new progress WITHOUT a reload
(pushed over the SSE stream by the progress consumers)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from lrs.xapi.ifi import actor_ifi
from tests.e2e.test_serve import KEY, SECRET
from tests.e2e.test_serve import served as served  # the `lrs serve` fixture
from tests.support.cdp import browser_page, chromium_path
from tests.support.factories import agent, statement
from tests.support.stack import xapi_headers

pytestmark = pytest.mark.e2e
H = xapi_headers(key=KEY, secret=SECRET)
CONSUMER_WAIT = 90.0


@pytest.fixture
def chromium() -> str:
    return chromium_path()  # fails (never skips) when the browser is missing


def row(learner: str, cell: str) -> str:
    selector = json.dumps(f'tr[data-learner="{learner}"] .{cell}')
    return f"document.querySelector({selector})?.textContent"


async def test_dashboard_updates_live(
    served: tuple[str, object], chromium: str, tmp_path: Path
) -> None:
    base, _ = served
    team = f"registry:e2e-{uuid.uuid4().hex[:6]}"
    ada, bob = agent("ada"), agent("bob")
    async with httpx.AsyncClient(base_url=base, headers=H, timeout=60) as http:
        created = await http.post("/teams", json={"team": team, "name": "E2E team"})
        assert created.status_code == 201, created.text
        members = await http.put(f"/teams/{team}/members", json=[ada, bob])
        assert members.status_code == 200, members.text

        url = f"{base}/dashboard#key={KEY}&secret={SECRET}&team={team}"
        async with browser_page(url) as page:
            await page.wait_for(
                "document.getElementById('conn')?.textContent === 'live'",
                30,
                "the dashboard did not connect its live stream",
            )
            await page.wait_for(row(actor_ifi(ada), "name"), 15, "member rows not shown")
            assert await page.evaluate(row(actor_ifi(bob), "name")) == "Learner bob"
            assert await page.evaluate(row(actor_ifi(ada), "status")) == "not started"
            await page.evaluate("window.__noReload = 'still here'")

            sent = statement("ada", "passed")
            response = await http.post("/xapi/statements", json=sent)
            assert response.status_code == 200, response.text

            status = await page.wait_for(
                f"{row(actor_ifi(ada), 'status')} === 'passed' && 'passed'",
                CONSUMER_WAIT,
                "no learner-progress reached the page: are the progress consumers registered "
                "in consumers/registry.py and started by `lrs serve`, publishing to "
                "lrs.progress.learner?",
            )
            assert status == "passed"
            # the course and the program it rolls up to (in progress) are both started
            assert await page.evaluate(row(actor_ifi(ada), "completed")) == "1/2"
            assert await page.evaluate(row(actor_ifi(ada), "score")) == "85%"
            assert await page.evaluate("window.__noReload") == "still here"
            assert await page.evaluate(row(actor_ifi(bob), "status")) == "not started"
            shot = await page.call("Page.captureScreenshot", format="png")
            (tmp_path / "dashboard.png").write_bytes(__import__("base64").b64decode(shot["data"]))
