"""How `progress_teams.summary` and `.members` are stored (docs/decisions/0023): as JSON bytes,
with the team's name beside them, and every reader of the collection reads the same summary and
members back; documents of earlier versions, whose summary is a sub-document and members an
array, are read as before."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lrs.adapters.mongo_latest import TEAMS, MongoLatestValues
from lrs.adapters.mongo_progress import MongoProgressStore
from lrs.adapters.mongo_teams import MongoProgressReader
from lrs.ports.progress import TeamDoc
from lrs.progress import fold, learner_id, summarize_learner, summarize_team
from tests.conftest import Infra, unique_name
from tests.support.factories import statement
from tests.support.stack import database, make_settings

pytestmark = pytest.mark.integration

TENANT = "default"
TEAM = "team-a"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def team_summary() -> dict[str, Any]:
    """A team summary of two members with activity rows, as team progress computes it."""
    members: dict[str, Any] = {}
    for n in (1, 2):
        docs = [statement(n, verb) for verb in ("attempted", "completed", "passed")]
        for day, doc in enumerate(docs):
            doc["stored"] = doc["timestamp"] = f"2026-11-2{day}T10:00:00.000Z"
        who = learner_id(docs[0])
        summary = summarize_learner(fold(who, docs), NOW.date())
        members[who] = {**summary, "team_names": {TEAM: "Team A"}}
    return {**summarize_team(TEAM, members, NOW), "tenant": TENANT}


async def read_everywhere(db: Any) -> list[Any]:
    """The team's summary and members as each reader of `progress_teams` sees them."""
    store = MongoProgressStore(db)
    loaded = (await store.load_teams(TENANT, [TEAM]))[TEAM]
    [iterated] = [doc async for doc in store.iterate_teams(TENANT)]
    reader = MongoProgressReader(db)
    one = await reader.team(TENANT, TEAM)
    assert one is not None
    [listed] = await reader.teams(TENANT)
    [(_, latest)] = [item async for item in MongoLatestValues(db).read(TEAMS)]
    found = [loaded, iterated, one, latest, listed]
    return [(d.summary, tuple(d.members)) for d in found]


@pytest.mark.parametrize("as_bytes", [True, False], ids=["bytes", "earlier-sub-document"])
async def test_a_team_summary_is_read_back_by_every_reader(infra: Infra, as_bytes: bool) -> None:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("ts"))
    summary = team_summary()
    assert summary["activities"], "a summary worth reading: activity rows"
    assert summary["name"] == "Team A"
    doc = TeamDoc(TENANT, TEAM, summary, ("m1", "m2"), version=1)
    async with database(settings) as db:
        if as_bytes:
            assert await MongoProgressStore(db).save_teams([doc], NOW) == set()
        else:
            await db["progress_teams"].insert_one(
                {
                    "_id": f"{TENANT}/{TEAM}",
                    "tenant": TENANT,
                    "team": TEAM,
                    "summary": summary,  # how earlier versions wrote it
                    "members": ["m1", "m2"],
                    "version": 1,
                    "updated": NOW,
                }
            )
        raw = await db["progress_teams"].find_one({"_id": f"{TENANT}/{TEAM}"})
        assert raw is not None
        assert isinstance(raw["summary"], bytes) is as_bytes
        assert isinstance(raw["members"], bytes) is as_bytes
        seen = await read_everywhere(db)
    members = ("m1", "m2")
    # a listing reads the name alone, and the members
    assert seen == [*[(summary, members)] * 4, ({"name": "Team A"}, members)]
