"""One rule per kind of parameter, on every route that takes it (lrs.xapi.params).

A table of the xAPI routes (and of the LRS's own routes taking such a parameter) and the
parameters each takes; for each kind of parameter (agent, IRI, UUID, timestamp, boolean) the
same bad value is sent to every route taking one, and each answers the same 400 (`bad_request`)
naming the parameter and the same `rule`. A parameter given twice is refused the same way on
every route. Parameters are checked before anything is read or
written, so the in-memory adapters stand in for the store and the broker.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest

from bench.hostile import HostileRequest
from lrs.adapters.memory import InMemoryCredentialStore
from lrs.api.app import create_app
from lrs.ports.credentials import Credential
from lrs.security import hash_secret
from lrs.services.auth import credential_authority
from lrs.settings import LrsSettings
from lrs.xapi.errors import NotFound
from tests.support.adapters import app_adapters
from tests.support.asgi import Answer, call_app

NOW = datetime(2026, 11, 30, 9, tzinfo=UTC)
KEY = "params-test"
VERSIONS = ("1.0.3", "2.0.0")
AGENT = json.dumps({"objectType": "Agent", "mbox": "mailto:ann@example.org"})
ACTIVITY = "http://example.org/activities/one"
VERB = "http://adlnet.gov/expapi/verbs/experienced"
UUID = "9e3f1f4c-2d7a-4b8e-9a61-0c5d3b2e7f10"
SINCE = "2026-01-01T00:00:00Z"
STATE = {"activityId": ACTIVITY, "agent": AGENT, "stateId": "s1", "registration": UUID}
ACTIVITY_PROFILE = {"activityId": ACTIVITY, "profileId": "p1"}
AGENT_PROFILE = {"agent": AGENT, "profileId": "p1"}
WRITES = ("PUT", "POST", "DELETE")


@dataclass(frozen=True)
class Route:
    """One method of one resource, with parameters it accepts (all valid)."""

    method: str
    path: str
    params: dict[str, str]

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def document_routes(path: str, params: dict[str, str]) -> Iterator[Route]:
    yield Route("GET", path, {**params, "since": SINCE})
    for method in WRITES:
        yield Route(method, path, params)


ROUTES = [
    Route(
        "GET",
        "/xapi/statements",
        {
            "agent": AGENT,
            "verb": VERB,
            "activity": ACTIVITY,
            "registration": UUID,
            "since": SINCE,
            "until": SINCE,
            "ascending": "true",
            "related_activities": "false",
            "related_agents": "false",
            "attachments": "false",
            "limit": "10",
        },
    ),
    Route("GET", "/xapi/statements", {"statementId": UUID}),
    Route("GET", "/xapi/statements", {"voidedStatementId": UUID}),
    Route("PUT", "/xapi/statements", {"statementId": UUID}),
    Route("GET", "/xapi/agents", {"agent": AGENT}),
    Route("GET", "/xapi/activities", {"activityId": ACTIVITY}),
    *document_routes("/xapi/activities/state", STATE),
    *document_routes("/xapi/activities/profile", ACTIVITY_PROFILE),
    *document_routes("/xapi/agents/profile", AGENT_PROFILE),
    # the LRS's own routes with a parameter of a kind above
    Route("GET", "/goals", {"owner": "organisation", "archived": "false"}),
    Route("GET", "/progress/goals", {"owner": "organisation", "period": "2026-10"}),
    Route("GET", "/progress/organisation", {"from": "2026-10-01", "to": "2026-10-31"}),
]

# Which parameters hold which kind of value.
KINDS = {
    "agent": {"agent"},
    "iri": {"activityId", "verb", "activity"},
    "uuid": {"registration", "statementId", "voidedStatementId"},
    "timestamp": {"since", "until"},
    "boolean": {"ascending", "related_activities", "related_agents", "attachments", "archived"},
}

# (kind, bad value, the rule every route names)
BAD_VALUES = [
    ("agent", "{not json", "json"),
    ("agent", '["mailto:ann@example.org"]', "agent-object"),
    ("agent", json.dumps({"name": "Ann, no identifier"}), "agent-ifi"),
    ("agent", json.dumps({"mbox": "ann@example.org"}), "mbox-mailto"),
    ("agent", json.dumps({"mbox": "mailto:a@example.org", "openid": "http://a.org/"}), "agent-ifi"),
    ("iri", "http://example.org/with space", "iri"),
    ("iri", "http://example.org/tab\there", "iri"),
    ("iri", "not-an-iri", "iri"),
    ("uuid", "not-a-uuid", "uuid"),
    ("uuid", "{" + UUID + "}", "uuid"),
    ("uuid", UUID.replace("-", ""), "uuid"),
    ("timestamp", "yesterday", "timestamp"),
    ("boolean", "yes", "boolean"),
]


def cases() -> Iterator[Any]:
    for kind, value, rule in BAD_VALUES:
        for route in ROUTES:
            for name in sorted(KINDS[kind] & set(route.params)):
                yield pytest.param(
                    route, name, value, rule, id=f"{rule}-{route.label}-{name}-{value[:20]}"
                )


def repeat_cases() -> Iterator[Any]:
    for route in ROUTES:
        for name in sorted(route.params):
            yield pytest.param(route, name, id=f"{route.label}-{name}")


class StoreReached:
    """A document store whose every call is a 404: a request reaching it passed its
    parameters (there is no in-memory document store)."""

    def __getattr__(self, name: str) -> Callable[..., Awaitable[None]]:
        async def call(*args: Any, **kwargs: Any) -> None:
            raise NotFound(f"the document store was reached ({name})")

        return call


@pytest.fixture(scope="module")
async def app() -> AsyncIterator[Any]:
    credentials = InMemoryCredentialStore()
    authority = credential_authority(KEY, "http://testserver/xapi")
    await credentials.insert(
        Credential(KEY, hash_secret("secret"), "acme", frozenset({"all"}), authority, NOW)
    )
    lrs = create_app(
        LrsSettings(), adapters=app_adapters(credentials=credentials, documents=StoreReached())
    )
    async with lrs.router.lifespan_context(lrs):
        yield lrs


async def send(app: Any, route: Route, items: list[tuple[str, str]], version: str) -> Answer:
    token = base64.b64encode(f"{KEY}:secret".encode()).decode()
    headers = [
        (b"x-experience-api-version", version.encode()),
        (b"authorization", f"Basic {token}".encode()),
        (b"content-type", b"application/json"),
    ]
    request = HostileRequest(
        method=route.method,
        path=route.path,
        query=urlencode(items).encode(),
        headers=tuple(headers),
        body=b'{"a": 1}' if route.method in ("PUT", "POST") else b"",
        route=route.label,
    )
    return await call_app(app, request)


def refusal(answer: Answer) -> dict[str, Any]:
    """The error of a 400 in the envelope."""
    assert answer.status == 400, (answer.status, answer.body[:500])
    error: dict[str, Any] = orjson.loads(answer.body)["error"]
    assert error["code"] == "bad_request", error
    return error


def assert_names(error: dict[str, Any], name: str, rule: str) -> None:
    first = error["details"][0]
    assert (first["rule"], first["path"].split(".")[0]) == (rule, name), error
    assert error["message"].startswith(name), error


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("route", "name", "value", "rule"), list(cases()))
async def test_a_bad_value_gets_the_same_400_and_rule_on_every_route(
    app: Any, route: Route, name: str, value: str, rule: str, version: str
) -> None:
    items = [(k, value if k == name else v) for k, v in route.params.items()]
    assert_names(refusal(await send(app, route, items, version)), name, rule)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("route", "name"), list(repeat_cases()))
async def test_a_repeated_parameter_gets_the_same_400_on_every_route(
    app: Any, route: Route, name: str, version: str
) -> None:
    items = [*route.params.items(), (name, route.params[name])]
    assert_names(refusal(await send(app, route, items, version)), name, "repeated-parameter")


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.label)
async def test_the_table_routes_accept_their_valid_parameters(app: Any, route: Route) -> None:
    """The baseline of every case above: with all its parameters valid, no route refuses them
    (what follows may refuse the body, or find no document)."""
    answer = await send(app, route, list(route.params.items()), "1.0.3")
    assert answer.status < 500, (answer.status, answer.body[:300])
    if answer.status >= 400:
        assert orjson.loads(answer.body)["error"]["code"] != "bad_request", answer.body


def test_every_kind_is_sent_to_more_than_one_resource() -> None:
    """The table is worth its name: each kind of parameter reaches several resources."""
    for kind, names in KINDS.items():
        paths = {route.path for route in ROUTES if names & set(route.params)}
        assert len(paths) >= (1 if kind in ("boolean",) else 2), (kind, paths)


@pytest.mark.parametrize("route", [r for r in ROUTES if r.method != "PUT"], ids=lambda r: r.label)
async def test_a_field_given_twice_in_the_alternate_syntax_is_refused_the_same_way(
    app: Any, route: Route
) -> None:
    """Communication 1.3: the form of an alternate-syntax POST carries the parameters; one
    given twice gets the same 400 as in a query string."""
    name, value = next(iter(route.params.items()))
    token = base64.b64encode(f"{KEY}:secret".encode()).decode()
    form = [("Authorization", f"Basic {token}"), *route.params.items(), (name, value)]
    request = HostileRequest(
        method="POST",
        path=route.path,
        query=urlencode({"method": route.method}).encode(),
        headers=(
            (b"x-experience-api-version", b"1.0.3"),
            (b"content-type", b"application/x-www-form-urlencoded"),
        ),
        body=urlencode(form).encode(),
        route=f"POST {route.path}?method={route.method}",
    )
    assert_names(refusal(await call_app(app, request)), name, "repeated-parameter")


async def test_the_method_given_twice_in_the_alternate_syntax_is_refused(app: Any) -> None:
    request = HostileRequest(
        method="POST",
        path="/xapi/statements",
        query=b"method=GET&method=GET",
        headers=(
            (b"x-experience-api-version", b"1.0.3"),
            (b"content-type", b"application/x-www-form-urlencoded"),
        ),
        body=b"",
        route="POST /xapi/statements?method=GET",
    )
    assert_names(refusal(await call_app(app, request)), "method", "repeated-parameter")


STREAMS = [
    Route("GET", "/progress/stream", {"team": "t"}),
    Route("GET", "/progress/goals/stream", {"owner": "organisation"}),
    Route("GET", "/progress/organisation/stream", {}),
]


@pytest.mark.parametrize("route", [*ROUTES[:2], *STREAMS], ids=lambda r: r.label)
async def test_an_unknown_parameter_gets_the_same_400_on_every_route(
    app: Any, route: Route
) -> None:
    """Communication 3.2's rule for unknown parameters, on xAPI resources and the streams
    alike (a stream refuses before it starts)."""
    items = [*route.params.items(), ("bogus", "1")]
    assert_names(refusal(await send(app, route, items, "2.0.0")), "bogus", "unknown-parameter")
