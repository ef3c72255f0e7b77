"""Issue 9's acceptance check on `lrs serve`: every reproduction of a hostile or merely unusual
request answers 4xx or stores the statement, never 5xx; afterwards 20 ordinary statements of
20 learners are all stored and all counted by progress, and no consumer process restarted."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.test_serve import children_of, command_of
from tests.support.factories import agent, statement
from tests.support.serve import serve_lrs
from tests.support.stack import xapi_headers

pytestmark = pytest.mark.e2e
KEY, SECRET = "hostile-key", "hostile-secret"
H103 = xapi_headers("1.0.3", KEY, SECRET)
H200 = xapi_headers("2.0.0", KEY, SECRET)
ACTIVITY = "https://e.example/hostile"


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth - 1):
        value = {"k": value}
    return value


def deep_agent_param(depth: int) -> str:
    return '{"mbox":"mailto:a@b.c","x":' + "[" * depth + "]" * depth + "}"


def minimal(actor: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": actor or {"mbox": f"mailto:{uuid.uuid4().hex}@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
        "object": {"id": ACTIVITY},
        **extra,
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    with serve_lrs(tmp_path_factory.mktemp("hostile") / "data", KEY, SECRET) as running:
        yield running


@pytest.fixture(scope="module")
def consumers_before(served: tuple[str, subprocess.Popen[str]]) -> dict[int, str]:
    """The consumer processes before any hostile request (pid -> command line)."""
    _, process = served
    return {p: command_of(p) for p in children_of(process.pid) if "consume" in command_of(p)}


def post(client: httpx.Client, body: Any, headers: dict[str, str] = H103) -> httpx.Response:
    return client.post("/xapi/statements", json=body, headers=headers)


def statement_requests() -> list[tuple[str, Callable[[httpx.Client], httpx.Response]]]:
    big = "x" * (9 * 1024 * 1024)
    nul_key = {"id": ACTIVITY, "definition": {"extensions": {"https://e.x/\u0000k": 1}}}
    return [
        ("NUL in an extension key", lambda c: post(c, minimal(object=nul_key))),
        *(
            (
                f"9 MB extension #{n}",
                lambda c, n=n: post(
                    c,
                    minimal(
                        object={
                            "id": ACTIVITY,
                            "definition": {"extensions": {f"https://e.x/big{n}": big}},
                        }
                    ),
                ),
            )
            for n in (1, 2)
        ),
        (
            "extension nested 300 levels",
            lambda c: post(c, minimal(result={"extensions": {"https://e.x/d": nested(300)}})),
        ),
        (
            "1 MB account name",
            lambda c: post(
                c, minimal({"account": {"homePage": "https://h.example", "name": "n" * 1_000_000}})
            ),
        ),
        (
            "1 MB team name",
            lambda c: post(
                c,
                minimal(
                    context={
                        "team": {
                            "objectType": "Group",
                            "account": {"homePage": "https://h.example", "name": "t" * 1_000_000},
                        }
                    }
                ),
            ),
        ),
        ("1,001 statements", lambda c: post(c, [minimal() for _ in range(1001)])),
    ]


def query_requests() -> list[tuple[str, Callable[[httpx.Client], httpx.Response]]]:
    deep = deep_agent_param(1200)
    get = lambda path, **params: lambda c: c.get(path, params=params, headers=H103)  # noqa: E731
    return [
        ("since year 1 +01:00", get("/xapi/statements", since="0001-01-01T00:00:00+01:00")),
        ("since 9999 -01:00", get("/xapi/statements", since="9999-12-31T23:59:59-01:00")),
        ("limit with 5,000 digits", get("/xapi/statements", limit="9" * 5000)),
        ("deep agent: statements", get("/xapi/statements", agent=deep)),
        ("deep agent: agents", get("/xapi/agents", agent=deep)),
        ("deep agent: state", get("/xapi/activities/state", activityId=ACTIVITY, agent=deep)),
        ("deep agent: progress", get("/progress/learners", agent=deep)),
        ("deep agent: stream", get("/progress/stream", agent=deep)),
        ("garbage more cursor", get("/xapi/statements/more/" + "A" * 64)),
        (
            "document nested 3,000 levels",
            lambda c: c.put(
                "/xapi/activities/state",
                params={
                    "activityId": ACTIVITY,
                    "agent": json.dumps(agent("doc")),
                    "stateId": "deep",
                },
                content=b'{"a":' + b"[" * 3000 + b"]" * 3000 + b"}",
                headers={**H103, "Content-Type": "application/json"},
            ),
        ),
        (
            "alternate syntax method=HEAD",
            lambda c: c.post(
                "/xapi/statements",
                params={"method": "HEAD"},
                content=b"",
                headers={**H103, "Content-Type": "application/x-www-form-urlencoded"},
            ),
        ),
    ]


def edge_timestamps() -> list[dict[str, Any]]:
    stamps = ["2026-12-31T23:59:60Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]
    return [minimal(id=str(uuid.uuid4()), timestamp=stamp) for stamp in stamps]


@dataclass
class Answer:
    status: int
    text: str
    sent_ids: list[str]
    error_message: str | None


def error_message(response: httpx.Response) -> str | None:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return None


def ids_in(request: httpx.Request) -> list[str]:
    """The statement ids a request carried (to check that a refused one stored none)."""
    if request.method != "POST" or not request.url.path.endswith("/statements"):
        return []
    try:
        body = json.loads(request.content)
    except ValueError:
        return []
    items = body if isinstance(body, list) else [body]
    return [str(item["id"]) for item in items if isinstance(item, dict) and "id" in item]


@pytest.fixture(scope="module")
def answers(
    served: tuple[str, subprocess.Popen[str]], consumers_before: dict[int, str]
) -> dict[str, Answer]:
    """Every reproduction, sent once, in order; the answer to each."""
    base, _ = served
    answers: dict[str, Answer] = {}
    with httpx.Client(base_url=base, timeout=60) as client:
        for name, send in statement_requests() + query_requests():
            response = send(client)
            answers[name] = Answer(
                response.status_code,
                response.text[:300],
                ids_in(response.request),
                error_message(response),
            )
    return answers


@pytest.mark.parametrize(
    "name", [n for n, _ in statement_requests()] + [n for n, _ in query_requests()]
)
def test_reproduction_answers_4xx_or_success(answers: dict[str, Answer], name: str) -> None:
    answer = answers[name]
    assert answer.status < 500, (name, answer.status, answer.text)
    if answer.status >= 400:
        assert answer.error_message, (name, answer.text)


@pytest.mark.parametrize("version_headers", [H103, H200], ids=["1.0.3", "2.0.0"])
def test_edge_timestamps_are_stored(
    served: tuple[str, subprocess.Popen[str]], version_headers: dict[str, str]
) -> None:
    base, _ = served
    with httpx.Client(base_url=base, timeout=60) as client:
        response = post(client, edge_timestamps(), version_headers)
        assert response.status_code == 200, response.text
        for statement_id in response.json():
            got = client.get("/xapi/statements", params={"statementId": statement_id}, headers=H103)
            assert got.status_code == 200, got.text


def test_ordinary_statements_afterwards_are_stored_and_counted(
    served: tuple[str, subprocess.Popen[str]],
    consumers_before: dict[int, str],
    answers: dict[str, Answer],
) -> None:
    """After every reproduction: the pipeline still flows, no consumer restarted, and the
    refused requests stored nothing."""
    base, process = served
    learners = [f"after-{uuid.uuid4().hex[:8]}-{n}" for n in range(20)]
    with httpx.Client(base_url=base, timeout=60) as client:
        for learner in learners:
            response = post(client, statement(learner))
            assert response.status_code == 200, response.text
        deadline = time.monotonic() + 30
        pending = set(learners)
        while pending and time.monotonic() < deadline:
            for learner in sorted(pending):
                got = client.get(
                    "/progress/learners", params={"agent": json.dumps(agent(learner))}, headers=H103
                )
                if got.status_code == 200 and got.json()["statements"] >= 1:
                    pending.discard(learner)
            if pending:
                time.sleep(0.2)  # polling interval of a condition with a deadline
        assert not pending, f"{len(pending)} learners not counted by progress within 30 s"
        refused = [a for a in answers.values() if a.status >= 400]
        sample = [i for a in refused for i in a.sent_ids[:5] + a.sent_ids[-5:]]
        assert sample, "the refused statement requests carried ids"
        for statement_id in sample:
            got = client.get("/xapi/statements", params={"statementId": statement_id}, headers=H103)
            assert got.status_code == 404, (statement_id, got.status_code)
    now = {p: command_of(p) for p in children_of(process.pid) if "consume" in command_of(p)}
    assert now == consumers_before, "a consumer process was restarted"
