"""Export without I/O: the CSV projection (columns, escaping), the filters' parser, and the
route streaming over the in-memory store (a spy counts the pages read when the first bytes
are sent)."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from lrs.adapters.memory import InMemoryCredentialStore, InMemoryStatementStore
from lrs.api.app import create_app
from lrs.ports.credentials import Credential
from lrs.ports.statements import AcceptedStatement, StatementPage
from lrs.security import hash_secret
from lrs.services.auth import credential_authority, ensure_bootstrap_credential
from lrs.settings import LrsSettings
from lrs.transfer.csv_rows import COLUMNS, csv_row
from lrs.transfer.export import PAGE_SIZE, export_query
from lrs.xapi.canonical import canonicalize
from lrs.xapi.errors import BadRequest
from lrs.xapi.ifi import actor_ifi
from lrs.xapi.query import StatementQuery
from tests.support.adapters import app_adapters
from tests.support.factories import account_agent, agent, statement, voiding
from tests.support.stack import basic

TENANT = "acme"
START = datetime(2026, 11, 1, tzinfo=UTC)
AUTHORITY = account_agent("importer", "https://lrs.example.org")


def stored_record(raw: dict[str, Any], n: int, tenant: str = TENANT) -> AcceptedStatement:
    stored = START + timedelta(seconds=n)
    doc = canonicalize(
        raw,
        authority=AUTHORITY,
        stored=stored,
        new_id=lambda: str(uuid.uuid4()),
        spec_version="1.0.3",
    )
    return AcceptedStatement(tenant, doc, stored, actor_ifi(doc["actor"]))


def parsed(rows_text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(rows_text)))


def test_csv_row_projects_every_documented_column() -> None:
    team = {"objectType": "Group", "name": "Team A", "account": {"homePage": "h", "name": "t"}}
    raw = statement(
        7,
        context=True,
        result=True,
    )
    raw["context"]["team"] = team
    raw["context"]["instructor"] = agent("teacher")
    raw["context"]["contextActivities"]["grouping"] = [{"id": "https://x.org/g1"}, {"id": "g:2"}]
    doc = stored_record(raw, 1).statement
    row = dict(zip(COLUMNS, csv_row(doc), strict=True))
    assert row["id"] == raw["id"]
    assert row["stored"] == "2026-11-01T00:00:01.000Z"
    assert row["timestamp"] == raw["timestamp"]
    assert row["voided"] == "false"
    assert row["actor_ifi"] == "mbox:mailto:learner7@example.org"
    assert row["actor_name"] == "Learner 7"
    assert (row["verb_id"], row["verb_display"]) == (raw["verb"]["id"], "completed")
    assert (row["object_type"], row["object_name"]) == ("Activity", "Course 1")
    assert row["object_id"] == "https://content.example.org/course/1"
    assert row["result_score_scaled"] == "0.85"
    assert (row["result_success"], row["result_completion"]) == ("true", "true")
    assert row["result_duration"] == "PT12M30S"
    assert row["context_registration"] == raw["context"]["registration"]
    assert row["context_team"] == "account:h|t"
    assert row["context_instructor"] == "mbox:mailto:learnerteacher@example.org"
    assert row["context_parent_ids"] == "https://content.example.org/program/1"
    assert row["context_grouping_ids"] == "https://x.org/g1 g:2"
    assert row["authority"] == "account:https://lrs.example.org|importer"


def test_csv_escapes_separators_quotes_newlines_and_formulas() -> None:
    tricky = 'Dupont, "Jo"\nsecond line'
    raw = statement(obj={"objectType": "Agent", "name": "=HYPERLINK(1)", "mbox": "mailto:a@b.c"})
    raw["actor"]["name"] = tricky
    raw["verb"]["display"] = {"fr": "+terminé"}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerow(csv_row(stored_record(raw, 1).statement, voided=True))
    (row,) = parsed(buffer.getvalue())
    assert row["actor_name"] == tricky
    assert row["verb_display"] == "'+terminé"
    assert (row["object_type"], row["object_id"]) == ("Agent", "mbox:mailto:a@b.c")
    assert row["object_name"] == "'=HYPERLINK(1)"
    assert row["voided"] == "true"


def test_export_filters_are_the_statement_apis_and_nothing_else() -> None:
    limits = LrsSettings().statement_limits()
    query = export_query(
        {"verb": "http://adlnet.gov/expapi/verbs/completed", "since": "2026-01-01T00:00:00Z"},
        limits=limits,
    )
    assert query.ascending
    assert query.limit == PAGE_SIZE
    assert query.verb == "http://adlnet.gov/expapi/verbs/completed"
    with pytest.raises(BadRequest, match="limit"):
        export_query({"limit": "3"}, limits=limits)
    with pytest.raises(BadRequest, match="since"):
        export_query({"since": "yesterday"}, limits=limits)


class PageCountingStore(InMemoryStatementStore):
    def __init__(self) -> None:
        super().__init__()
        self.pages = 0

    async def query(self, tenant: str, query: StatementQuery) -> StatementPage:
        self.pages += 1
        return await super().query(tenant, query)


async def export_answer(
    store: PageCountingStore, query: bytes, scopes: frozenset[str] | None = None
) -> tuple[int, bytes, list[int]]:
    """GET /admin/export over ASGI; the pages read when each body chunk was sent. The caller
    has every scope and `admin`, or `scopes`."""
    credentials = InMemoryCredentialStore()
    if scopes is None:
        await ensure_bootstrap_credential(
            credentials, tenant=TENANT, base_url="http://t", now=START, key="k", secret="s"
        )
    else:
        authority = credential_authority("k", "http://t")
        await credentials.insert(
            Credential("k", hash_secret("s"), TENANT, scopes, authority, created_at=START)
        )
    app = create_app(LrsSettings(), adapters=app_adapters(store=store, credentials=credentials))
    pages_at_chunk: list[int] = []
    chunks: list[bytes] = []
    status = 0
    finished = asyncio.Event()
    asked = False

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message.get("body"):
            pages_at_chunk.append(store.pages)
            chunks.append(message["body"])
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/admin/export",
        "raw_path": b"/admin/export",
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"t"), (b"authorization", basic("k", "s").encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("t", 80),
    }
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app(scope, receive, send), 60)
    return status, b"".join(chunks), pages_at_chunk


async def test_export_streams_a_page_at_a_time() -> None:
    """The first bytes leave before the second page is read: the export never holds the
    tenant's statements in memory."""
    store = PageCountingStore()
    count = 3 * PAGE_SIZE + 7
    await store.insert_many([stored_record(statement(n), n) for n in range(count)])
    await store.insert_many([stored_record(statement(1), 1, tenant="other")])
    status, body, pages_at_chunk = await export_answer(store, b"format=jsonl")
    assert status == 200, body[:300]
    assert pages_at_chunk[0] == 1
    assert store.pages == 4
    lines = [orjson.loads(line) for line in body.splitlines()]
    assert len(lines) == count
    assert [s["stored"] for s in lines] == sorted(s["stored"] for s in lines)


async def test_export_puts_each_voided_statement_before_its_voiding_one() -> None:
    store = PageCountingStore()
    kept, voided = statement(1), statement(2)
    void = voiding(voided["id"])
    records = [stored_record(s, n) for n, s in enumerate([voided, kept, void])]
    await store.insert_many(records)
    status, body, _ = await export_answer(store, b"format=csv")
    assert status == 200, body[:300]
    rows = parsed(body.decode())
    assert [(r["id"], r["voided"]) for r in rows] == [
        (kept["id"], "false"),
        (voided["id"], "true"),
        (void["id"], "false"),
    ]
    assert list(rows[0]) == list(COLUMNS)


async def test_export_needs_the_admin_scope() -> None:
    store = PageCountingStore()
    status, body, _ = await export_answer(store, b"", scopes=frozenset({"all"}))
    assert status == 403, body
    assert "admin" in orjson.loads(body)["error"]["message"]
    assert store.pages == 0


async def test_export_refuses_unknown_filters_and_formats_with_400() -> None:
    store = PageCountingStore()
    for query in (b"limit=5", b"format=xml", b"tenant=No/Such", b"verb=not-an-iri"):
        status, body, _ = await export_answer(store, query)
        assert status == 400, (query, body)
        assert orjson.loads(body)["error"]["message"]
