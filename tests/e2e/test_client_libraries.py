"""A standard xAPI client library works unchanged against `lrs serve`: TinCanPython (the
`tincan` package, Rustici's Python client) saves, retrieves and queries statements and saves
and reads State documents over real HTTP. It creates Activity and Agent Profile documents with
a PUT without If-None-Match, which `LRS_ALLOW_UNCONDITIONAL_PROFILE_CREATE` (on here) accepts;
overwriting one without a precondition is still refused (Communication 3.1).

TinCanPython predates xAPI 2.0: its `about()` refuses an LRS whose About resource lists 2.0.0,
so that one call is not exercised here; the About resource itself is covered elsewhere.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tincan import (
    Activity,
    ActivityDefinition,
    ActivityProfileDocument,
    Agent,
    AgentProfileDocument,
    Context,
    LanguageMap,
    RemoteLRS,
    Result,
    Score,
    StateDocument,
    Statement,
    Verb,
)

from tests.support.serve import serve_lrs

pytestmark = pytest.mark.e2e
KEY, SECRET = "tincan-key", "tincan-secret"
COURSE = "https://content.example.org/course/tincan"


@pytest.fixture(scope="module")
def lrs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteLRS]:
    running: tuple[str, subprocess.Popen[str]]
    data_dir = Path(tmp_path_factory.mktemp("tincan"))
    with serve_lrs(data_dir, KEY, SECRET, allow_unconditional_profile_create="true") as running:
        base, _ = running
        yield RemoteLRS(endpoint=f"{base}/xapi/", username=KEY, password=SECRET, version="1.0.1")


def learner() -> Agent:
    return Agent(name="Ada Lovelace", mbox=f"mailto:ada.{uuid.uuid4().hex[:6]}@example.org")


def completed(who: Agent) -> Statement:
    return Statement(
        actor=who,
        verb=Verb(
            id="http://adlnet.gov/expapi/verbs/completed",
            display=LanguageMap({"en-US": "completed"}),
        ),
        object=Activity(
            id=COURSE, definition=ActivityDefinition(name=LanguageMap({"en-US": "TinCan course"}))
        ),
        result=Result(score=Score(scaled=0.9), success=True, completion=True, duration="PT1H"),
        context=Context(registration=uuid.uuid4()),
    )


def test_save_retrieve_and_query_statements(lrs: RemoteLRS) -> None:
    who = learner()
    saved = lrs.save_statement(completed(who))
    assert saved.success, saved.response.status
    retrieved = lrs.retrieve_statement(saved.content.id)
    assert retrieved.success
    assert retrieved.content.verb.id == "http://adlnet.gov/expapi/verbs/completed"
    assert retrieved.content.result.score.scaled == 0.9
    queried = lrs.query_statements({"agent": Agent(mbox=who.mbox), "limit": 10})
    assert queried.success
    assert [s.id for s in queried.content.statements] == [saved.content.id]


def test_save_many_statements_at_once(lrs: RemoteLRS) -> None:
    who = learner()
    saved = lrs.save_statements([completed(who) for _ in range(3)])
    assert saved.success
    queried = lrs.query_statements({"agent": Agent(mbox=who.mbox)})
    assert len(queried.content.statements) == 3


def test_state_documents(lrs: RemoteLRS) -> None:
    who = learner()
    document = StateDocument(
        id="bookmark",
        activity=Activity(id=COURSE),
        agent=who,
        content='{"page": 3}',
        content_type="application/json",
    )
    assert lrs.save_state(document).success
    read = lrs.retrieve_state(activity=Activity(id=COURSE), agent=who, state_id="bookmark")
    assert read.success
    assert bytes(read.content.content) == b'{"page": 3}'


def test_activity_profile_is_created_without_a_precondition(lrs: RemoteLRS) -> None:
    activity = Activity(id=f"{COURSE}/{uuid.uuid4().hex[:8]}")
    profile = ActivityProfileDocument(
        id="settings", activity=activity, content='{"v": 1}', content_type="application/json"
    )
    assert lrs.save_activity_profile(profile).success
    read = lrs.retrieve_activity_profile(activity=activity, profile_id="settings")
    assert read.success
    assert bytes(read.content.content) == b'{"v": 1}'
    profile.content = '{"v": 2}'
    overwrite = lrs.save_activity_profile(profile)  # no If-Match: the LRS MUST refuse it
    assert not overwrite.success
    assert overwrite.response.status == 409


def test_agent_profile_is_created_without_a_precondition(lrs: RemoteLRS) -> None:
    who = learner()
    profile = AgentProfileDocument(
        id="prefs", agent=who, content='{"lang": "en"}', content_type="application/json"
    )
    assert lrs.save_agent_profile(profile).success
    read = lrs.retrieve_agent_profile(agent=who, profile_id="prefs")
    assert read.success
    assert bytes(read.content.content) == b'{"lang": "en"}'
    overwrite = lrs.save_agent_profile(profile)
    assert overwrite.response.status == 409
