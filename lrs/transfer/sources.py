"""Where `lrs import` reads statements: another LRS's Statement API, or a JSON-lines file (as
`lrs export` writes). Each yields batches together with the position to resume after them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode, urljoin

import orjson

from lrs.transfer.export import voided_target_id
from lrs.transfer.http import TransferError, XapiHttp
from lrs.xapi.timefmt import format_timestamp, parse_timestamp

Position = dict[str, Any]
# `since` is exclusive; resuming from a little before the last `stored` seen re-reads the
# statements stored in the same instant (re-sending them is harmless: same ids, Data 2.3.1).
SINCE_OVERLAP = timedelta(milliseconds=1)
RESTARTABLE = frozenset({400, 404, 410})


@dataclass(frozen=True)
class Batch:
    statements: list[dict[str, Any]]
    position: Position  # where to resume once this batch is imported


class Source(Protocol):
    name: str  # what the checkpoint is for (an import resumes only from its own source)
    total: int | None  # statements to read, when knowable (for the ETA)

    def batches(self, position: Position | None) -> Iterator[Batch]: ...


class FileSource:
    """A JSON-lines file, one statement per line (blank lines skipped); the position is the
    number of lines read."""

    def __init__(self, path: Path, batch_size: int) -> None:
        self.path = path
        self.batch_size = batch_size
        self.name = f"file:{path.resolve()}"
        with path.open("rb") as lines:
            self.total: int | None = sum(1 for line in lines if line.strip())

    def batches(self, position: Position | None) -> Iterator[Batch]:
        start = int((position or {}).get("line", 0))
        batch: list[dict[str, Any]] = []
        with self.path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                if number <= start or not line.strip():
                    continue
                batch.append(_statement_of(line, f"{self.path}:{number}"))
                if len(batch) == self.batch_size:
                    yield Batch(batch, {"line": number})
                    batch = []
            if batch:
                yield Batch(batch, {"line": number})

    def done(self, position: Position | None) -> int:
        """Statements already read at `position` (for the progress bar)."""
        start = int((position or {}).get("line", 0))
        with self.path.open("rb") as lines:
            return sum(1 for n, line in enumerate(lines, 1) if n <= start and line.strip())


def _statement_of(line: bytes, where: str) -> dict[str, Any]:
    try:
        statement = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise TransferError(f"{where}: not JSON ({exc})") from None
    if not isinstance(statement, dict):
        raise TransferError(f"{where}: not a statement object")
    return statement


class LrsSource:
    """Another LRS's Statement API (Communication 2.1.3): oldest first, following `more`.

    The position is the next `more` link and the `stored` of the last statement read; when a
    `more` link no longer works (400, 404, 410: some LRSs expire them), or the end had been
    reached, reading starts again from `since` that `stored`. The LRS never lists voided
    statements; each voiding statement read is preceded by the statement it voids, fetched
    with `voidedStatementId`, so that the target LRS holds and voids it too (Data 2.3.2).
    """

    def __init__(self, endpoint: str, http: XapiHttp, batch_size: int) -> None:
        self.endpoint = endpoint if endpoint.endswith("/") else endpoint + "/"
        self.http = http
        self.batch_size = batch_size
        self.name = f"lrs:{self.endpoint}"
        self.total: int | None = None

    def batches(self, position: Position | None) -> Iterator[Batch]:
        position = position or {}
        since: str | None = position.get("since")
        url = position.get("more") or self._first_url(since)
        answer = self.http.get(url)
        if answer.status in RESTARTABLE and position.get("more"):
            url = self._first_url(since)
            answer = self.http.get(url)
        while True:
            page = self._page(url, answer)
            statements = page.get("statements") or []
            if statements:
                since = str(statements[-1].get("stored") or since or "") or None
            more = page.get("more") or None
            next_url = urljoin(self.endpoint, more) if more else None
            yield Batch(self._with_voided(statements), {"more": next_url, "since": since})
            if next_url is None:
                return
            url = next_url
            answer = self.http.get(url)

    def _first_url(self, since: str | None) -> str:
        params = {"ascending": "true", "limit": str(self.batch_size)}
        if since:
            params["since"] = format_timestamp(parse_timestamp(since) - SINCE_OVERLAP)
        return urljoin(self.endpoint, "statements") + "?" + urlencode(params)

    def _page(self, url: str, answer: Any) -> dict[str, Any]:
        if answer.status != 200:
            raise TransferError(f"GET {url}: {answer.status} {answer.message()}")
        page = answer.json()
        if not isinstance(page, dict) or not isinstance(page.get("statements"), list):
            raise TransferError(f"GET {url}: not a StatementResult")
        return page

    def _with_voided(self, statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for statement in statements:
            target = voided_target_id(statement)
            if target is not None:
                out += self._voided(target)
            out.append(statement)
        return out

    def _voided(self, statement_id: str) -> list[dict[str, Any]]:
        url = (
            urljoin(self.endpoint, "statements")
            + "?"
            + urlencode({"voidedStatementId": statement_id})
        )
        answer = self.http.get(url)
        if answer.status == 404:
            return []  # not held (or not voided) by the source: nothing to carry over
        if answer.status != 200:
            raise TransferError(f"GET {url}: {answer.status} {answer.message()}")
        found = answer.json()
        return [found] if isinstance(found, dict) else []
