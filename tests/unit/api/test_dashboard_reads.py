"""What the dashboard reads, over the in-memory adapters: its 401s carry no browser challenge,
the organisation overview, a learner by canonical id, and a learner stream by canonical id."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from lrs.adapters.memory import InMemoryCredentialStore
from lrs.adapters.memory_teams import InMemoryProgressReader, InMemoryTeamRegistry
from lrs.api.app import create_app
from lrs.ports.credentials import Credential
from lrs.ports.progress import LearnerProgressDoc, TeamProgressDoc
from lrs.progress import fold, summarize_learner
from lrs.progress.registry import Team
from lrs.security import hash_secret
from lrs.services.auth import credential_authority
from lrs.settings import LrsSettings
from lrs.xapi.ifi import actor_ifi
from tests.support.adapters import app_adapters
from tests.support.factories import COURSE, MODULE_A, stmt

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
KEY, SECRET = "dash-key", "dash-secret"
PAGE = {"X-Requested-With": "XMLHttpRequest"}
SALES = {"objectType": "Group", "name": "Sales EMEA", "mbox": "mailto:sales@example.org"}


def basic(key: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


def learner_doc(n: int, at: datetime, **kwargs: Any) -> LearnerProgressDoc:
    statement = stmt(
        "passed",
        obj=MODULE_A,
        at=at.isoformat().replace("+00:00", "Z"),
        learner=n,
        parents=[COURSE],
        **kwargs,
    )
    statement["context"]["contextActivities"]["parent"][0]["definition"] = {
        "name": {"en-US": "Course 1"}
    }
    ifi = actor_ifi(statement["actor"])
    state = fold(ifi, [statement])
    return LearnerProgressDoc(ifi, state.to_dict(), summarize_learner(state, at.date()), [], 1)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    credentials = InMemoryCredentialStore()
    await credentials.insert(
        Credential(
            KEY,
            hash_secret(SECRET),
            "acme",
            frozenset({"all"}),
            credential_authority(KEY, "http://testserver/xapi"),
            NOW - timedelta(days=1),
        )
    )
    progress, registry = InMemoryProgressReader(), InMemoryTeamRegistry()
    docs = {
        1: learner_doc(1, NOW - timedelta(hours=1), team=SALES),  # today
        2: learner_doc(2, NOW - timedelta(days=3), team=SALES),  # this week
        3: learner_doc(3, NOW - timedelta(days=20)),  # this month
    }
    for doc in docs.values():
        progress.learner_docs["acme", doc.learner] = doc
    sales = actor_ifi(SALES)
    members = [docs[1].learner, docs[2].learner]
    progress.team_docs["acme", sales] = TeamProgressDoc(sales, {"name": "Sales EMEA"}, members, 1)
    registry.teams["acme", "registry:ops"] = Team(
        "acme", "registry:ops", "Operations", NOW, (docs[3].learner, "mbox:mailto:new@x.org")
    )
    adapters = app_adapters(credentials=credentials, progress=progress, team_registry=registry)
    app = create_app(LrsSettings(), adapters=adapters, clock=lambda: NOW)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_a_page_script_gets_its_401_without_a_browser_challenge(
    http: httpx.AsyncClient,
) -> None:
    wrong = basic(KEY, "wrong")
    from_page = await http.post("/progress/stream-token", headers={**wrong, **PAGE})
    assert from_page.status_code == 401
    assert "www-authenticate" not in from_page.headers
    assert from_page.json()["error"]["message"] == "unknown key or wrong secret"
    # every other client keeps the Basic challenge (xAPI Communication 4.1), xAPI or not
    for path in ("/progress/stream-token", "/xapi/statements"):
        method = "POST" if path.endswith("token") else "GET"
        plain = await http.request(
            method, path, headers={**wrong, "X-Experience-API-Version": "1.0.3"}
        )
        assert plain.status_code == 401
        assert plain.headers["www-authenticate"].startswith("Basic")
    token = await http.post("/progress/stream-token", headers={**basic(KEY, SECRET), **PAGE})
    assert token.status_code == 200, token.text


async def test_the_overview_counts_teams_activity_windows_and_courses(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/progress/overview", headers={**basic(KEY, SECRET), **PAGE})
    assert response.status_code == 200, response.text
    overview = response.json()
    assert overview["learners"] == 3
    assert overview["active"] == {"today": 1, "7d": 2, "30d": 3}
    teams = {t["team"]: t for t in overview["teams"]}
    assert teams[actor_ifi(SALES)] == {
        "team": actor_ifi(SALES),
        "name": "Sales EMEA",
        "registered": False,
        "members": 2,
        "active_today": 1,
        "active_7d": 2,
        "active_30d": 2,
    }
    assert teams["registry:ops"]["name"] == "Operations"
    assert (teams["registry:ops"]["members"], teams["registry:ops"]["active_30d"]) == (2, 1)
    [course] = overview["courses"]
    assert course["activity"] == COURSE
    assert course["name"] == "Course 1"
    # the course is in progress for all three (only the module was passed)
    assert (course["started"], course["completed"], course["completion_rate"]) == (3, 0, 0.0)
    [module] = overview["activities"]
    assert (module["activity"], module["completed"], module["completion_rate"]) == (
        MODULE_A,
        3,
        1.0,
    )
    assert overview["recent_learners"][0]["learner"] == actor_ifi(stmt(learner=1)["actor"])
    assert overview["recent_learners"][0]["name"] == "Learner 1"
    assert overview["learners_truncated"] is False


async def test_a_learner_is_read_by_canonical_id(http: httpx.AsyncClient) -> None:
    learner = actor_ifi(stmt(learner=2)["actor"])
    found = await http.get(
        f"/progress/learners/{quote(learner, safe='')}", headers=basic(KEY, SECRET)
    )
    assert found.status_code == 200, found.text
    assert (found.json()["learner"], found.json()["name"]) == (learner, "Learner 2")
    assert found.json()["team_names"] == {actor_ifi(SALES): "Sales EMEA"}
    missing = await http.get(
        "/progress/learners/mbox%3Amailto%3Anobody%40x.org", headers=basic(KEY, SECRET)
    )
    assert missing.status_code == 404


async def test_a_stream_target_is_exactly_one_of_team_agent_and_learner(
    http: httpx.AsyncClient,
) -> None:
    for query, message in [
        ("team=a&learner=b", "give exactly one of the parameters team, agent and learner"),
        ("", "give exactly one of the parameters team, agent and learner"),
        ("learner=", "the learner parameter is empty"),
    ]:
        refused = await http.get(f"/progress/stream?{query}", headers=basic(KEY, SECRET))
        assert refused.status_code == 400, query
        assert refused.json()["error"]["message"] == message
