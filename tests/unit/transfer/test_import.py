"""The import engine without a network: a fake Statement API answers the importer's requests."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson
import pytest

from lrs.transfer.http import Answer, TransferError, XapiHttp
from lrs.transfer.importer import Checkpoint, Target, for_target, run_import
from lrs.transfer.progress import ProgressBar
from lrs.transfer.sources import FileSource, LrsSource
from tests.support.factories import statement

Handler = Callable[[str, str, Any, str], Answer]


class FakeHttp(XapiHttp):
    """Records requests; `handler(method, url, body, version)` answers them."""

    def __init__(self, handler: Handler) -> None:
        super().__init__("Basic x", pause=lambda _: None)
        self.handler = handler
        self.requests: list[tuple[str, str, Any, str]] = []

    def _once(self, method: str, url: str, body: bytes | None, version: str) -> Answer:
        doc = orjson.loads(body) if body is not None else None
        self.requests.append((method, url, doc, version))
        return self.handler(method, url, doc, version)


def json_answer(status: int, doc: Any) -> Answer:
    return Answer(status, orjson.dumps(doc))


def test_a_refused_batch_is_resent_one_by_one_and_only_the_refused_are_reported() -> None:
    good, clash, bad = statement(1), statement(2), statement(3)

    def handler(method: str, url: str, body: Any, version: str) -> Answer:
        ids = {s["id"] for s in body}
        if clash["id"] in ids:
            return json_answer(409, {"error": {"message": "already exists"}})
        if bad["id"] in ids:
            return json_answer(400, {"error": {"message": "verb: bad"}})
        return json_answer(200, sorted(ids))

    http = FakeHttp(handler)
    refused = Target("http://t/xapi", http).send([good, clash, bad])
    assert [(r.statement_id, r.status, r.message) for r in refused] == [
        (clash["id"], 409, "already exists"),
        (bad["id"], 400, "verb: bad"),
    ]
    assert [len(r[2]) for r in http.requests] == [3, 1, 1, 1]
    assert http.requests[0][1] == "http://t/xapi/statements"


def test_statements_are_sent_without_stored_and_authority_and_with_their_version() -> None:
    old = {**statement(1), "stored": "x", "authority": {"mbox": "mailto:a@b.c"}, "version": "1.0.0"}
    new = {**statement(2), "version": "2.0.0"}
    assert "stored" not in for_target(old)
    assert "authority" not in for_target(old)
    http = FakeHttp(lambda m, u, body, v: json_answer(200, [s["id"] for s in body]))
    assert Target("http://t/xapi/", http).send([old, new]) == []
    assert [(len(r[2]), r[3]) for r in http.requests] == [(1, "1.0.3"), (1, "2.0.0")]
    assert http.requests[0][2][0]["id"] == old["id"]


def test_an_unexpected_answer_stops_the_import() -> None:
    http = FakeHttp(lambda *_: json_answer(401, {"error": {"message": "bad credentials"}}))
    with pytest.raises(TransferError, match="401 bad credentials"):
        Target("http://t/xapi/", http).send([statement(1)])


def test_busy_answers_are_retried() -> None:
    answers = [json_answer(503, {}), json_answer(503, {}), json_answer(200, [])]
    http = FakeHttp(lambda *_: answers.pop(0))
    assert Target("http://t/xapi/", http).send([statement(1)]) == []
    assert len(http.requests) == 3


def paging_source(statements: list[dict[str, Any]], run: str) -> FakeHttp:
    """A Statement API serving `statements` (oldest first) two at a time; its `more` links
    hold `run`, and links of another run are refused (400) as expired, as some LRSs do."""

    def handler(method: str, url: str, body: Any, version: str) -> Answer:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        if "run" in query and query["run"] != run:
            return json_answer(400, {"error": {"message": "cursor expired"}})
        since, offset = query.get("since", ""), int(query.get("offset", "0"))
        matching = [s for s in statements if s["stored"] > since]
        more = ""
        if offset + 2 < len(matching):
            more = (
                f"/xapi/statements?{urlencode({'since': since, 'offset': offset + 2, 'run': run})}"
            )
        return json_answer(200, {"statements": matching[offset : offset + 2], "more": more})

    return FakeHttp(handler)


def stored(n: int) -> dict[str, Any]:
    return {**statement(n), "stored": f"2026-11-01T00:00:0{n}.000Z"}


def test_an_expired_more_link_resumes_from_since() -> None:
    statements = [stored(n) for n in range(1, 6)]
    first = list(LrsSource("http://s/xapi/", paging_source(statements, "a"), 2).batches(None))
    assert [len(b.statements) for b in first] == [2, 2, 1]
    assert first[0].position["since"] == "2026-11-01T00:00:02.000Z"
    http = paging_source(statements, "b")
    resumed = list(LrsSource("http://s/xapi", http, 2).batches(first[0].position))
    # from a millisecond before the last `stored`: the statement stored then is re-read
    assert [s["id"] for b in resumed for s in b.statements] == [s["id"] for s in statements[1:]]
    since = parse_qs(urlsplit(http.requests[1][1]).query)["since"]
    assert since == ["2026-11-01T00:00:01.999Z"]


def test_a_checkpoint_is_only_resumed_from_by_its_own_source(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    Checkpoint("file:/a").save(path)
    assert Checkpoint.load(path, "file:/a").source == "file:/a"
    with pytest.raises(TransferError, match="checkpoint of file:/a"):
        Checkpoint.load(path, "file:/b")
    path.write_bytes(b"[1, 2]")
    with pytest.raises(TransferError, match="not an import checkpoint"):
        Checkpoint.load(path, "file:/a")


def test_a_file_import_stopped_after_a_batch_resumes_at_the_next_line(tmp_path: Path) -> None:
    docs = [statement(n) for n in range(5)]
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(d) for d in docs[:2]) + b"\n\n")
    with path.open("ab") as out:
        out.write(b"\n".join(orjson.dumps(d) for d in docs[2:]))
    sent: list[str] = []
    http = FakeHttp(
        lambda m, u, body, v: sent.extend(s["id"] for s in body) or json_answer(200, [])
    )
    target, checkpoint = Target("http://t/xapi/", http), tmp_path / "cp"
    source = FileSource(path, batch_size=2)
    assert source.total == 5
    first = run_import(source, target, checkpoint, ProgressBar(io.StringIO(), 5), max_batches=1)
    assert (first.complete, first.checkpoint.position) == (False, {"line": 2})
    assert source.done(first.checkpoint.position) == 2
    rest = run_import(source, target, checkpoint, ProgressBar(io.StringIO(), 5, done=2))
    assert rest.complete
    assert sent == [d["id"] for d in docs]


def test_a_line_that_is_not_json_names_its_place(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(orjson.dumps(statement(1)) + b"\n{oops\n")
    with pytest.raises(TransferError, match=r"in.jsonl:2: not JSON"):
        list(FileSource(path, batch_size=10).batches(None))


def test_progress_line_shows_rate_and_eta_only_when_the_total_is_known() -> None:
    now = [0.0]
    known = ProgressBar(io.StringIO(), total=1000, done=100, clock=lambda: now[0])
    unknown = ProgressBar(io.StringIO(), clock=lambda: now[0])
    now[0] = 10.0
    known.advance(200)
    unknown.advance(200)
    assert known.line(10.0) == (
        "300/1000 statements (30%), ETA 0:00:35, 20 statements/s, 0:00:10 elapsed"
    )
    assert unknown.line(10.0) == "200 statements, 20 statements/s, 0:00:10 elapsed"
