"""The goals API over in-memory adapters: create, list by owner, change, archive; 400 naming
the field of a bad target; scopes; what is published on `lrs.goals` and the trigger topic."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from lrs import topics
from lrs.adapters.memory import InMemoryCredentialStore, InMemoryEventBus
from lrs.api.app import create_app
from lrs.ports.credentials import Credential
from lrs.security import hash_secret
from lrs.services.auth import credential_authority
from lrs.settings import LrsSettings
from tests.support.adapters import app_adapters

NOW = datetime(2026, 3, 1, 9, tzinfo=UTC)
COURSE = "https://example.org/course/security"
SCOPES = {"admin-ish": {"all"}, "reader": {"statements/read"}, "writer-only": {"statements/write"}}


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:secret".encode()).decode()}


def team_goal(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "goalId": "security-q1",
        "name": "80% of the team passes the security course by 31 March",
        "owner": {"kind": "team", "id": "registry:sales"},
        "startDate": "2026-01-01",
        "achievedByDate": "2026-03-31",
        "targets": [
            {
                "kind": "members",
                "share": 0.8,
                "of": {"kind": "complete", "activities": [COURSE], "require": "passed"},
            }
        ],
    }
    return {**doc, **changes}


@pytest.fixture
def bus() -> InMemoryEventBus:
    return InMemoryEventBus()


@pytest.fixture
async def http(bus: InMemoryEventBus) -> AsyncIterator[httpx.AsyncClient]:
    credentials = InMemoryCredentialStore()
    for key, scopes in SCOPES.items():
        await credentials.insert(
            Credential(
                key,
                hash_secret("secret"),
                "acme",
                frozenset(scopes),
                credential_authority(key, "http://testserver/xapi"),
                NOW - timedelta(days=1),
            )
        )
    app = create_app(
        LrsSettings(), adapters=app_adapters(credentials=credentials, bus=bus), clock=lambda: NOW
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_create_list_change_archive(http: httpx.AsyncClient, bus: InMemoryEventBus) -> None:
    admin = basic("admin-ish")
    created = await http.post("/goals", json=team_goal(), headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["goalId"] == "security-q1"
    again = await http.post("/goals", json=team_goal(), headers=admin)
    assert again.status_code == 200
    clash = await http.post("/goals", json=team_goal(name="Other"), headers=admin)
    assert clash.status_code == 409
    mine = {"kind": "learner", "id": "mbox:mailto:a@example.org"}
    learner_goal = team_goal(
        goalId=None, owner=mine, targets=[{"kind": "minutes", "minutes": 30}], recurrence="week"
    )
    created_learner = await http.post(
        "/goals", json={k: v for k, v in learner_goal.items() if v is not None}, headers=admin
    )
    assert created_learner.status_code == 201, created_learner.text
    generated = created_learner.json()["goalId"]
    assert generated
    assert generated != "security-q1"

    reader = basic("reader")
    by_team = await http.get("/goals", params={"owner": "team:registry:sales"}, headers=reader)
    assert [g["goalId"] for g in by_team.json()["goals"]] == ["security-q1"]
    everything = await http.get("/goals", headers=reader)
    assert {g["goalId"] for g in everything.json()["goals"]} == {"security-q1", generated}

    changed = await http.put("/goals/security-q1", json=team_goal(name="Renamed"), headers=admin)
    assert (changed.status_code, changed.json()["version"]) == (200, 2)
    archived = await http.post("/goals/security-q1/archive", headers=admin)
    assert archived.json()["archived"] is True
    live = await http.get("/goals", params={"owner": "team:registry:sales"}, headers=reader)
    assert live.json()["goals"] == []
    for flag in ("true", "TRUE"):  # the boolean rule of every parameter (lrs.xapi.params)
        kept = await http.get(f"/goals?owner=team:registry:sales&archived={flag}", headers=reader)
        assert [g["version"] for g in kept.json()["goals"]] == [3], kept.text

    definitions = [m for t, m in bus.published if t == topics.GOALS]
    triggers = [m for t, m in bus.published if t == topics.GOAL_CHANGES]
    assert definitions[-1].key == topics.goal_key("acme", "security-q1")
    assert orjson.loads(definitions[-1].value)["archived"] is True
    assert orjson.loads(triggers[-1].value) == {"tenant": "acme", "goal": "security-q1"}
    assert len(definitions) == len(triggers) == 5


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            {"targets": [{"kind": "members", "share": 2, "of": {"kind": "minutes", "minutes": 9}}]},
            "targets[0].share",
        ),
        ({"targets": [{"kind": "minutes", "minutes": 9}]}, "targets[0].kind"),
        ({"owner": {"kind": "team"}}, "owner.id"),
        ({"achievedByDate": "31/03/2026"}, "achievedByDate"),
    ],
)
async def test_a_bad_goal_gets_400_naming_the_field(
    http: httpx.AsyncClient, changes: dict[str, Any], field: str
) -> None:
    answer = await http.post("/goals", json=team_goal(**changes), headers=basic("admin-ish"))
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["message"].startswith(f"invalid goal: {field}: ")
    assert error["details"][0]["path"] == field


async def test_scopes(http: httpx.AsyncClient) -> None:
    refused = await http.post("/goals", json=team_goal(), headers=basic("reader"))
    assert refused.status_code == 403
    assert (await http.get("/goals", headers=basic("writer-only"))).status_code == 403
    assert (await http.get("/progress/goals", headers=basic("writer-only"))).status_code == 403
    assert (await http.get("/progress/goals", headers=basic("reader"))).json() == {"goals": []}


async def test_bad_queries(http: httpx.AsyncClient) -> None:
    reader = basic("reader")
    assert (await http.get("/goals?owner=department:x", headers=reader)).status_code == 400
    assert (await http.get("/goals?archived=yes", headers=reader)).status_code == 400
    assert (await http.get("/goals/no%20such", headers=reader)).status_code == 400
    assert (await http.get("/goals/missing", headers=reader)).status_code == 404
    assert (await http.post("/goals", content=b"{", headers=basic("admin-ish"))).status_code == 400
