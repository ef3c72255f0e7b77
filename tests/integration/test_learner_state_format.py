"""How `progress_learners.state` is stored (docs/decisions/0023): as the state's JSON bytes,
which every reader of the collection turns back into the same `LearnerState`; documents of
earlier versions, whose state is a sub-document, are read as before; a rebuild's reset leaves
an empty state of the document's learner. Beside the state, the days with a live statement
(`days`), which the organisation consumer reads instead of every learner's state. The summary
is stored as JSON bytes too (docs/decisions/0006), and a sub-document summary of earlier
versions is read as before."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lrs.adapters.mongo_goals import MongoGoalProgress
from lrs.adapters.mongo_organisation import MongoOrganisationProgress
from lrs.adapters.mongo_progress import MongoProgressStore
from lrs.adapters.mongo_teams import MongoProgressReader
from lrs.ports.progress import LearnerDoc
from lrs.progress import LearnerState, fold, learner_id, summarize_learner
from lrs.progress.organisation import activity_mark, learner_figures
from tests.conftest import Infra, unique_name
from tests.support.factories import statement
from tests.support.stack import database, make_settings

pytestmark = pytest.mark.integration

TENANT = "default"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
Doc = dict[str, Any]


def learner_state(learner: int) -> tuple[str, LearnerState]:
    docs = [statement(learner, verb) for verb in ("attempted", "completed", "passed")]
    for n, doc in enumerate(docs):
        doc["stored"] = doc["timestamp"] = f"2026-11-2{n}T10:00:00.000Z"
    who = learner_id(docs[0])
    return who, fold(who, docs)


async def read_everywhere(db: Any, who: str) -> list[LearnerState]:
    """The learner's state as each reader of `progress_learners` sees it."""
    store = MongoProgressStore(db)
    stored = (await store.load_learners(TENANT, [who]))[who].state
    goals = (await MongoGoalProgress(db).states(TENANT, [who]))[who]
    reader = await MongoProgressReader(db).learner(TENANT, who)
    assert reader is not None
    return [stored, goals, LearnerState.from_dict(reader.state)]


async def test_a_saved_state_is_bytes_and_every_reader_reads_it_back(infra: Infra) -> None:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("sf"))
    who, state = learner_state(1)
    doc = LearnerDoc.empty(TENANT, who).successor(state, {"tenant": TENANT}, ())
    async with database(settings) as db:
        assert await MongoProgressStore(db).save_learners([doc], NOW) == set()
        raw = await db["progress_learners"].find_one({"_id": f"{TENANT}/{who}"})
        assert raw is not None
        assert isinstance(raw["state"], bytes)
        assert await read_everywhere(db, who) == [state, state, state]
        [figures] = await MongoOrganisationProgress(db).learners(TENANT)
    assert figures == learner_figures(state, (), ())
    assert len(figures.days) == 3


async def test_a_state_stored_as_a_sub_document_is_still_read(infra: Infra) -> None:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("so"))
    who, state = learner_state(2)
    earlier: Doc = {
        "_id": f"{TENANT}/{who}",
        "tenant": TENANT,
        "learner": who,
        "state": state.to_dict(),  # how earlier versions wrote it
        "summary": {"tenant": TENANT},
        "teams": [],
        "teams_left": [],
        "version": 1,
        "updated": NOW,
    }
    async with database(settings) as db:
        await db["progress_learners"].insert_one(earlier)
        assert await read_everywhere(db, who) == [state, state, state]
        [figures] = await MongoOrganisationProgress(db).learners(TENANT)
    assert figures == learner_figures(state, (), ())


async def test_a_reset_leaves_an_empty_state_of_the_learner_and_its_version(
    infra: Infra,
) -> None:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("sr"))
    who, state = learner_state(3)
    doc = LearnerDoc.empty(TENANT, who).successor(state, {"tenant": TENANT}, ())
    async with database(settings) as db:
        store = MongoProgressStore(db)
        await store.save_learners([doc], NOW)
        await store.reset_learners(TENANT)
        reset = (await store.load_learners(TENANT, [who]))[who]
        [figures] = await MongoOrganisationProgress(db).learners(TENANT)
    assert reset.state == LearnerState(who)
    assert reset.version == doc.version
    assert figures.days == ()  # the days go with the state


async def test_the_organisation_read_takes_the_days_without_the_state(infra: Infra) -> None:
    """A state grows with every statement of its learner; what the organisation consumer reads
    of every learner, on every recomputation, must not (docs/decisions/0020)."""
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("sd"))
    who, state = learner_state(5)
    doc = LearnerDoc.empty(TENANT, who).successor(state, {"tenant": TENANT}, ())
    async with database(settings) as db:
        await MongoProgressStore(db).save_learners([doc], NOW)
        key = {"_id": f"{TENANT}/{who}"}
        await db["progress_learners"].update_one(key, {"$set": {"state": b"not read"}})
        [figures] = await MongoOrganisationProgress(db).learners(TENANT)
    assert figures == learner_figures(state, (), ())
    assert len(figures.days) == 3


async def summary_everywhere(db: Any, who: str) -> list[Any]:
    """The learner's summary as each reader of `progress_learners` sees it."""
    stored = (await MongoProgressStore(db).load_learners(TENANT, [who]))[who].summary
    listed = (await MongoProgressStore(db).learner_summaries(TENANT, [who], []))[who].summary
    reader = await MongoProgressReader(db).learner(TENANT, who)
    assert reader is not None
    [overview] = await MongoProgressReader(db).summaries(TENANT, 10)
    [figures] = await MongoOrganisationProgress(db).learners(TENANT)
    marks = {"activities": list(figures.activities)}  # the organisation's: marks of the rows
    return [stored, listed, reader.summary, overview, marks]


@pytest.mark.parametrize("as_bytes", [True, False], ids=["bytes", "earlier-sub-document"])
async def test_a_summary_is_read_back_by_every_reader(infra: Infra, as_bytes: bool) -> None:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("su"))
    who, state = learner_state(4)
    summary = {**summarize_learner(state, NOW.date()), "tenant": TENANT}
    assert summary["activities"], "the summary has activity rows to read"
    doc = LearnerDoc.empty(TENANT, who).successor(state, summary, ())
    async with database(settings) as db:
        if as_bytes:
            await MongoProgressStore(db).save_learners([doc], NOW)
        else:
            await db["progress_learners"].insert_one(
                {
                    "_id": f"{TENANT}/{who}",
                    "tenant": TENANT,
                    "learner": who,
                    "state": state.to_dict(),
                    "summary": summary,  # how earlier versions wrote it
                    "teams": [],
                    "teams_left": [],
                    "version": 1,
                    "updated": NOW,
                }
            )
        raw = await db["progress_learners"].find_one({"_id": f"{TENANT}/{who}"})
        assert raw is not None
        assert isinstance(raw["summary"], bytes) is as_bytes
        seen = await summary_everywhere(db, who)
    marks = {"activities": [activity_mark(row) for row in summary["activities"]]}
    assert seen == [summary, summary, summary, summary, marks]
