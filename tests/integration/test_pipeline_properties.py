"""Property test of the whole statement pipeline (issue 9, "Property and fuzz tests").

Hypothesis generates VALID statements of both xAPI versions, with the inputs that broke the
pipeline before: edge timestamps (a leap second, year 0001 with a positive offset, year 9999
with a negative one, fractional seconds, unusual offsets), unicode in names, displays and
extension values, and extensions nested far deeper than clients send (yet well within
`LrsSettings.max_json_depth`). Each generated batch is POSTed to the in-process API on the real
broker and store with the persister and the progress consumers running; every statement must
then be stored (GET ?statementId returns it) and counted by progress exactly as the pure model
(`lrs.progress`) recomputes it from the stored statements.

Derandomized (a fixed sequence of examples), no deadline, no shrinking (a shrink step would
wait on the pipeline again and again): bounded to about a minute.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pymongo.asynchronous.database import AsyncDatabase

from lrs.progress import learner_id
from lrs.settings import LrsSettings
from tests.conftest import Infra
from tests.support.polling import eventually
from tests.support.progress import (
    FIXED_NOW,
    oracle,
    progress_docs,
    running_pipeline,
    stored_statements,
)
from tests.support.stack import (
    make_settings,
    prepare_infra,
    xapi_headers,
)

pytestmark = pytest.mark.integration
TENANT = "default"
Doc = dict[str, Any]
# Deepest extension value generated: the statement, `context`/`result`/`definition` and
# `extensions` take 3-4 levels, so the statement stays well below max_json_depth (64).
MAX_EXTENSION_DEPTH = LrsSettings().max_json_depth - 16
EXAMPLES = 50

VERBS = [
    "http://adlnet.gov/expapi/verbs/attempted",
    "http://adlnet.gov/expapi/verbs/completed",
    "http://adlnet.gov/expapi/verbs/passed",
    "http://adlnet.gov/expapi/verbs/failed",
    "http://adlnet.gov/expapi/verbs/experienced",
    "https://w3id.org/xapi/adl/verbs/satisfied",
]
LANGUAGES = ["en-US", "fr", "de-CH", "zh-Hans-CN", "ar", "und"]

# --- strategies -------------------------------------------------------------------------------

# Any character JSON can carry (lone surrogates cannot be encoded).
unicode_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=24)
# Keys of nested extension values: letters and digits of every script (the characters of a
# key the store refuses, NUL, `$` and `.`, are the edge's business, not this test's).
key_text = st.text(st.characters(categories=("L", "Nd")), min_size=1, max_size=12)
language_map = st.dictionaries(st.sampled_from(LANGUAGES), unicode_text, min_size=1, max_size=3)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    unicode_text,
)


@st.composite
def deep_value(draw: st.DrawFn) -> Any:
    """A JSON value nested `depth` levels: objects and lists around a scalar."""
    depth = draw(st.integers(1, MAX_EXTENSION_DEPTH))
    value = draw(scalars)
    for _ in range(depth):
        value = {draw(key_text): value} if draw(st.booleans()) else [value]
    return value


json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(key_text, inner, max_size=3),
    max_leaves=8,
)
extensions = st.dictionaries(
    st.integers(0, 99).map(lambda n: f"https://ext.example.org/k{n}"),
    st.one_of(json_values, deep_value()),
    max_size=3,
)

offsets = st.one_of(
    st.just("Z"),
    st.sampled_from(["+00:00", "+01:00", "-01:00", "+05:45", "+14:00", "-12:00", "-00:30"]),
    st.builds(
        lambda sign, hours, minutes: f"{sign}{hours:02d}:{minutes:02d}",
        st.sampled_from("+-"),
        st.integers(0, 13),
        st.sampled_from([0, 15, 30, 45]),
    ).filter(lambda offset: offset != "-00:00"),  # ISO 8601 and RFC 3339 refuse it
)
fractions = st.one_of(
    st.just(""), st.text("0123456789", min_size=1, max_size=9).map(lambda d: "." + d)
)


@st.composite
def ordinary_timestamp(draw: st.DrawFn) -> str:
    year, month, day = (
        draw(st.integers(1971, 2199)),
        draw(st.integers(1, 12)),
        draw(st.integers(1, 28)),
    )
    hour, minute, second = (
        draw(st.integers(0, 23)),
        draw(st.integers(0, 59)),
        draw(st.integers(0, 59)),
    )
    stamp = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    return f"{stamp}{draw(fractions)}{draw(offsets)}"


@st.composite
def edge_timestamp(draw: st.DrawFn) -> str:
    """The timestamps the spec allows that broke the pipeline: a leap second, and instants
    whose UTC form leaves years 1..9999."""
    kind = draw(st.sampled_from(["leap", "year1", "year9999"]))
    if kind == "leap":
        day = draw(st.sampled_from(["2016-12-31", "2026-12-31", "2015-06-30"]))
        return f"{day}T23:59:60{draw(fractions)}{draw(st.sampled_from(['Z', '+00:00']))}"
    if kind == "year1":
        hours = draw(st.integers(1, 14))
        return f"0001-01-01T00:00:00{draw(fractions)}+{hours:02d}:00"
    hours = draw(st.integers(1, 12))
    return f"9999-12-31T23:30:00{draw(fractions)}-{hours:02d}:00"


timestamps = st.one_of(ordinary_timestamp(), edge_timestamp())


@st.composite
def actor(draw: st.DrawFn) -> Doc:
    learner = draw(st.integers(0, 11))
    doc: Doc = {"objectType": "Agent", "name": draw(unicode_text)}
    if draw(st.booleans()):
        doc["mbox"] = f"mailto:prop{learner}@example.org"
    else:
        name = draw(unicode_text.filter(bool))
        doc["account"] = {"homePage": "https://lms.example.org", "name": f"{learner}-{name}"}
    return doc


@st.composite
def activity(draw: st.DrawFn) -> Doc:
    definition: Doc = {"name": draw(language_map), "description": draw(language_map)}
    found = draw(extensions)
    if found:
        definition["extensions"] = found
    course = draw(st.integers(0, 4))
    return {
        "objectType": "Activity",
        "id": f"https://content.example.org/course/{course}",
        "definition": definition,
    }


@st.composite
def result(draw: st.DrawFn) -> Doc:
    doc: Doc = {}
    if draw(st.booleans()):
        doc["score"] = {"scaled": draw(st.floats(-1, 1, allow_nan=False))}
    if draw(st.booleans()):
        doc["success"] = draw(st.booleans())
    if draw(st.booleans()):
        doc["completion"] = draw(st.booleans())
    if draw(st.booleans()):
        doc["duration"] = f"PT{draw(st.integers(0, 10_000))}S"
    found = draw(extensions)
    if found:
        doc["extensions"] = found
    return doc


@st.composite
def statement(draw: st.DrawFn, version: str) -> Doc:
    doc: Doc = {
        "actor": draw(actor()),
        "verb": {"id": draw(st.sampled_from(VERBS)), "display": draw(language_map)},
        "object": draw(activity()),
        "timestamp": draw(timestamps),
    }
    found = draw(result())
    if found:
        doc["result"] = found
    context: Doc = {"registration": str(uuid.UUID(int=draw(st.integers(0, 2**64)), version=4))}
    found = draw(extensions)
    if found:
        context["extensions"] = found
    if version == "2.0.0" and draw(st.booleans()):
        context["contextAgents"] = [{"objectType": "contextAgent", "agent": draw(actor())}]
    doc["context"] = context
    return doc


@dataclass(frozen=True)
class Batch:
    version: str
    statements: list[Doc]


batches = st.sampled_from(["1.0.3", "2.0.0"]).flatmap(
    lambda version: st.lists(statement(version), min_size=1, max_size=4).map(
        lambda docs: Batch(version, docs)
    )
)

# --- the pipeline -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pipeline:
    client: httpx.AsyncClient
    db: AsyncDatabase[Doc]


@pytest.fixture(scope="module")
async def pipeline(infra: Infra, module_namespace: str) -> AsyncIterator[Pipeline]:
    """The in-process API with the persister and the progress consumers, for the module."""
    lrs_settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, module_namespace)
    await prepare_infra(lrs_settings)
    async with running_pipeline(lrs_settings, batch_max=100) as (client, db):
        yield Pipeline(client, db)


async def counted_problems(db: AsyncDatabase[Doc], learners: set[str]) -> list[str]:
    """The learners' stored progress against the pure model over the stored statements."""
    expected = oracle(TENANT, await stored_statements(db, TENANT), {}, FIXED_NOW).learners
    docs = await progress_docs(db, "progress_learners", TENANT)
    problems = []
    for learner in sorted(learners):
        doc, wanted = docs.get(learner), expected.get(learner)
        if wanted is None:
            problems.append(f"{learner}: no stored statement")
        elif doc is None or doc["summary"] != wanted:
            got = None if doc is None else doc["summary"]["statements"]
            problems.append(f"{learner}: progress counts {got}, the store {wanted['statements']}")
    return problems


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(batch=batches)
async def test_valid_statements_are_stored_and_counted(pipeline: Pipeline, batch: Batch) -> None:
    # fresh ids: examples may repeat content, an id must not come back with other content
    statements = [{"id": str(uuid.uuid4()), **doc} for doc in batch.statements]
    response = await pipeline.client.post(
        "/xapi/statements", json=statements, headers=xapi_headers(batch.version)
    )
    assert response.status_code == 200, response.text
    assert response.json() == [s["id"] for s in statements]
    for doc in statements:
        got = await pipeline.client.get(
            "/xapi/statements", params={"statementId": doc["id"]}, headers=xapi_headers()
        )
        assert got.status_code == 200, got.text
        assert got.json()["id"] == doc["id"]
    learners = {learner_id(doc) for doc in statements}

    async def problems() -> list[str]:
        return await counted_problems(pipeline.db, learners)

    assert await eventually(problems, within=20, every=0.1) == []
