"""Import and export on the real stack (broker, persist consumer, store), with two API apps
served on loopback ports: `lrs import` reads one tenant's statements through the Statement
API of the first and sends them through the second's, interrupted and resumed; an export of a
tenant imported into an empty one gives back the same statements (docs/import-export.md)."""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from lrs.adapters.mongo_store import MongoStatementStore
from lrs.entry.cli import _parser, _run
from lrs.settings import LrsSettings
from lrs.transfer.csv_rows import COLUMNS
from lrs.transfer.export import VOIDED_VERB
from lrs.transfer.http import XapiHttp, basic_auth
from lrs.transfer.importer import ImportResult, Target, run_import
from lrs.transfer.progress import ProgressBar
from lrs.transfer.sources import FileSource, LrsSource, Source
from tests.conftest import Infra
from tests.support.factories import activity, statement, voiding
from tests.support.live import live_api
from tests.support.stack import (
    api_client,
    database,
    make_settings,
    prepare_infra,
    running_persister,
    xapi_headers,
)

pytestmark = pytest.mark.integration
ADMIN = xapi_headers()  # the bootstrap credential (tenant "default", admin scope)
TENANTS = ("source", "copy", "roundtrip", "clash")
PLAIN, VOIDED = 294, 6  # 300 statements in the source: 6 of them void 6 others


@dataclass
class Env:
    settings: LrsSettings
    source_url: str  # one API app
    target_url: str  # another, on the same broker and store
    auth: dict[str, tuple[str, str]]  # tenant -> (key, secret)
    source_ids: list[str]

    def http(self, tenant: str) -> XapiHttp:
        return XapiHttp(basic_auth(*self.auth[tenant]))


async def new_credential(http: httpx.AsyncClient, tenant: str) -> tuple[str, str]:
    answer = await http.post("/admin/tenants", json={"name": tenant}, headers=ADMIN)
    assert answer.status_code == 201, answer.text
    body = {"tenant": tenant, "scopes": ["all"], "label": f"{tenant} importer"}
    answer = await http.post("/admin/credentials", json=body, headers=ADMIN)
    assert answer.status_code == 201, answer.text
    return answer.json()["key"], answer.json()["secret"]


def source_statements() -> list[dict[str, Any]]:
    plain = [
        statement(n % 17, "completed" if n % 3 else "attempted", activity(f"course/{n % 5}"))
        for n in range(PLAIN)
    ]
    for n, doc in enumerate(plain):
        doc["timestamp"] = f"2026-10-{1 + n % 28:02d}T08:{n % 60:02d}:00.123+02:00"
    voids = [voiding(plain[n * 40]["id"], learner=n) for n in range(VOIDED)]
    return plain + voids


@pytest.fixture(scope="module")
async def env(infra: Infra, module_namespace: str) -> AsyncIterator[Env]:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, module_namespace)
    await prepare_infra(settings)
    async with running_persister(settings), api_client(settings) as admin:
        auth = {tenant: await new_credential(admin, tenant) for tenant in TENANTS}
        async with live_api(settings) as source_url, live_api(settings) as target_url:
            sent = source_statements()
            headers = xapi_headers(key=auth["source"][0], secret=auth["source"][1])
            async with httpx.AsyncClient(base_url=source_url, timeout=120) as http:
                for start in range(0, len(sent), 100):
                    answer = await http.post(
                        "/xapi/statements", json=sent[start : start + 100], headers=headers
                    )
                    assert answer.status_code == 200, answer.text
            yield Env(settings, source_url, target_url, auth, [s["id"] for s in sent])


async def stored_docs(settings: LrsSettings, tenant: str) -> list[dict[str, Any]]:
    """Every statement document of the tenant (voided ones included), as the store holds them."""
    async with database(settings) as db:
        return await db["statements"].find({"tenant": tenant}).to_list(None)


async def by_id(settings: LrsSettings, tenant: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    async with database(settings) as db:
        return await MongoStatementStore(db).get_many(tenant, ids)


def without_lrs_set(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in ("stored", "authority")}


async def assert_same_statements(env: Env, tenant: str) -> None:
    """The tenant holds each source statement once, with the same id, content (but `stored`
    and `authority`) and voided state; its authority is the importing credential's."""
    docs = await stored_docs(env.settings, tenant)
    ids = [d["id"] for d in docs]
    assert len(ids) == len(set(ids)) == len(env.source_ids)
    assert set(ids) == set(env.source_ids)
    source = {d["id"]: d for d in await stored_docs(env.settings, "source")}
    for doc in docs:
        assert doc["voided"] == source[doc["id"]]["voided"], doc["id"]
    assert sum(d["voided"] for d in docs) == VOIDED
    copied = await by_id(env.settings, tenant, env.source_ids)
    originals = await by_id(env.settings, "source", env.source_ids)
    for statement_id, original in originals.items():
        assert without_lrs_set(copied[statement_id]) == without_lrs_set(original)
        assert copied[statement_id]["authority"]["account"]["name"] == env.auth[tenant][0]


def import_in_thread(
    source: Source, target: Target, checkpoint: Path, max_batches: int | None = None
) -> ImportResult:
    progress = ProgressBar(io.StringIO(), total=source.total)
    return run_import(source, target, checkpoint, progress, max_batches)


async def test_import_from_another_lrs_interrupted_and_resumed(env: Env, tmp_path: Path) -> None:
    """Stopped after 3 batches, then after one more whose checkpoint is lost (as if killed
    between the target's answer and the checkpoint's write), then run to the end: every
    statement once, same ids, the re-sent batch accepted as the duplicate it is."""
    source = LrsSource(env.source_url + "/xapi/", env.http("source"), batch_size=40)
    target = Target(env.target_url + "/xapi/", env.http("copy"))
    checkpoint = tmp_path / "copy.checkpoint"
    first = await asyncio.to_thread(import_in_thread, source, target, checkpoint, 3)
    assert not first.complete
    assert first.checkpoint.batches == 3
    assert 120 <= len(await stored_docs(env.settings, "copy")) < len(env.source_ids)
    saved = tmp_path / "after-3-batches"
    shutil.copy(checkpoint, saved)
    second = await asyncio.to_thread(import_in_thread, source, target, checkpoint, 1)
    assert second.checkpoint.batches == 4
    shutil.copy(saved, checkpoint)  # the 4th batch's checkpoint never written
    last = await asyncio.to_thread(import_in_thread, source, target, checkpoint)
    assert last.complete
    assert last.checkpoint.refused == []
    assert last.checkpoint.sent == len(env.source_ids)  # counted from the restored checkpoint
    await assert_same_statements(env, "copy")
    again = await asyncio.to_thread(import_in_thread, source, target, checkpoint)
    assert again.complete  # resumes from `since` the last `stored`: nothing or a few re-sent
    assert again.checkpoint.refused == []
    assert len(await stored_docs(env.settings, "copy")) == len(env.source_ids)


async def export(env: Env, fmt: str, **filters: str) -> bytes:
    params = {"tenant": "source", "format": fmt, **filters}
    chunks: list[bytes] = []
    async with (
        httpx.AsyncClient(base_url=env.target_url, timeout=120) as http,
        http.stream("GET", "/admin/export", params=params, headers=ADMIN) as answer,
    ):
        assert answer.status_code == 200, await answer.aread()
        async for chunk in answer.aiter_bytes():
            chunks.append(chunk)
    return b"".join(chunks)


async def test_export_then_import_into_an_empty_tenant_round_trips(
    env: Env, tmp_path: Path
) -> None:
    body = await export(env, "jsonl")
    lines = [orjson.loads(line) for line in body.splitlines()]
    assert sorted(s["id"] for s in lines) == sorted(env.source_ids)
    position = {s["id"]: n for n, s in enumerate(lines)}
    for doc in lines:
        if doc["verb"]["id"].endswith("/voided"):
            assert position[doc["object"]["id"]] < position[doc["id"]]
    path = tmp_path / "source.jsonl"
    path.write_bytes(body)
    source = FileSource(path, batch_size=100)
    assert source.total == len(env.source_ids)
    target = Target(env.target_url + "/xapi/", env.http("roundtrip"))
    result = await asyncio.to_thread(import_in_thread, source, target, tmp_path / "checkpoint")
    assert result.complete
    assert result.checkpoint.refused == []
    await assert_same_statements(env, "roundtrip")


async def test_csv_export_has_the_documented_columns_and_one_row_per_statement(env: Env) -> None:
    rows = list(csv.reader(io.StringIO((await export(env, "csv")).decode())))
    assert rows[0] == list(COLUMNS)
    records = [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]
    assert sorted(r["id"] for r in records) == sorted(env.source_ids)
    assert sum(r["voided"] == "true" for r in records) == VOIDED
    completed = await export(env, "csv", verb="http://adlnet.gov/expapi/verbs/completed")
    verbs = {row[COLUMNS.index("verb_id")] for row in csv.reader(io.StringIO(completed.decode()))}
    # a voiding statement matches through its target (Communication 2.1.3, StatementRefs)
    expected = {"verb_id", "http://adlnet.gov/expapi/verbs/completed", VOIDED_VERB}
    assert verbs == expected


async def test_a_conflicting_statement_is_reported_and_the_rest_imported(
    env: Env, tmp_path: Path
) -> None:
    """The target already holds one of the ids with other content: that statement is refused
    (409, Communication 2.1.1) and reported; the others of its batch are imported."""
    clash_id = env.source_ids[10]
    different = statement("someone-else", "failed", id=clash_id)
    headers = xapi_headers(key=env.auth["clash"][0], secret=env.auth["clash"][1])
    async with httpx.AsyncClient(base_url=env.target_url, timeout=60) as http:
        answer = await http.post("/xapi/statements", json=[different], headers=headers)
        assert answer.status_code == 200, answer.text
    source = LrsSource(env.source_url + "/xapi/", env.http("source"), batch_size=100)
    target = Target(env.target_url + "/xapi/", env.http("clash"))
    result = await asyncio.to_thread(import_in_thread, source, target, tmp_path / "checkpoint")
    assert result.complete
    assert [(r.statement_id, r.status) for r in result.checkpoint.refused] == [(clash_id, 409)]
    docs = await stored_docs(env.settings, "clash")
    assert sorted(d["id"] for d in docs) == sorted(env.source_ids)
    kept = await by_id(env.settings, "clash", [clash_id])
    assert kept[clash_id]["verb"]["id"].endswith("/failed")


def cli(settings: LrsSettings, *argv: str) -> int:
    return _run(_parser().parse_args(list(argv)), settings)


async def test_the_cli_exports_to_a_file_and_imports_it(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "attempted.jsonl"
    attempted = "http://adlnet.gov/expapi/verbs/attempted"
    code = await asyncio.to_thread(
        cli, env.settings, "export", "--tenant", "source", "--verb", attempted, "-o", str(out)
    )
    assert code == 0
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert lines
    assert {s["verb"]["id"] for s in lines} == {attempted, VOIDED_VERB}  # see the CSV test
    key, secret = env.auth["copy"]
    monkeypatch.setenv("LRS_IMPORT_TARGET_AUTH", f"{key}:{secret}")
    argv = ["import", "--from-file", str(out), "--to", env.target_url + "/xapi/"]
    argv += ["--checkpoint", str(tmp_path / "cp"), "--batch-size", "7"]
    assert await asyncio.to_thread(cli, env.settings, *argv, "--max-batches", "1") == 0
    assert orjson.loads((tmp_path / "cp").read_bytes())["position"] == {"line": 7}
    assert await asyncio.to_thread(cli, env.settings, *argv) == 0
    assert orjson.loads((tmp_path / "cp").read_bytes())["sent"] == len(lines)
