"""`lrs import`: statements from a Source sent to an LRS's Statement API in batches, the way
any client sends them, so that validation, ids and duplicates behave as in ingest.

- Ids, `timestamp` and the rest of the content are kept; `stored` and `authority` are left out,
  since the target LRS MUST set `stored` (Data 2.4.8) and SHOULD overwrite `authority` from
  the credential used (Data 2.4.9): the imported statements' authority is the importing
  credential's (create it with the `authority` the imported statements should carry).
- Resumable: after every batch the target acknowledged, a checkpoint file records the source's
  position. Re-sending a batch after an interruption is harmless: a statement whose id the
  target holds with equivalent content is accepted again without being stored twice
  (Data 2.3.1; POST answers 200).
- A batch refused as a whole for one statement (409: the id is held with other content,
  Communication 2.1.1; 400: the statement is invalid) is re-sent one statement at a time, and
  the refused ones are reported (and kept in the checkpoint) while the others are imported.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import orjson

from lrs.transfer.http import TransferError, XapiHttp
from lrs.transfer.progress import ProgressBar
from lrs.transfer.sources import Batch, Position, Source

LRS_SET = ("stored", "authority")


@dataclass
class Refused:
    statement_id: str
    status: int
    message: str


@dataclass
class Checkpoint:
    source: str
    position: Position | None = None
    sent: int = 0
    batches: int = 0
    refused: list[Refused] = field(default_factory=list)
    finished: bool = False

    @classmethod
    def load(cls, path: Path, source: str) -> Checkpoint:
        if not path.exists():
            return cls(source)
        try:
            doc = orjson.loads(path.read_bytes())
            if doc.get("source") != source:
                found = doc.get("source")
                raise TransferError(f"{path} is the checkpoint of {found}, not {source}")
            refused = [Refused(**r) for r in doc.get("refused", [])]
            return cls(**{**doc, "refused": refused})
        except (orjson.JSONDecodeError, AttributeError, TypeError) as exc:
            raise TransferError(f"{path} is not an import checkpoint ({exc})") from None

    def save(self, path: Path) -> None:
        """Atomically: a checkpoint is either the old one or the new one, never half of one."""
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_bytes(orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2))
        os.replace(temporary, path)


@dataclass(frozen=True)
class ImportResult:
    checkpoint: Checkpoint
    sent_now: int
    complete: bool  # False when stopped by `max_batches`


def for_target(statement: Mapping[str, Any]) -> dict[str, Any]:
    """The statement as sent to the target: without what the target LRS sets itself."""
    return {k: v for k, v in statement.items() if k not in LRS_SET}


def header_version(statement: Mapping[str, Any], default: str) -> str:
    """The X-Experience-API-Version to send a statement with: 2.0.0 for a 2.x statement."""
    return "2.0.0" if str(statement.get("version", "")).startswith("2.") else default


class Target:
    """The Statement API statements are imported into."""

    def __init__(self, endpoint: str, http: XapiHttp) -> None:
        base = endpoint if endpoint.endswith("/") else endpoint + "/"
        self.url = urljoin(base, "statements")
        self.http = http

    def send(self, statements: Sequence[Mapping[str, Any]]) -> list[Refused]:
        """POST them (one request per xAPI version among them); what was refused, per id."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for statement in statements:
            version = header_version(statement, self.http.version)
            groups.setdefault(version, []).append(for_target(statement))
        refused: list[Refused] = []
        for version, group in groups.items():
            refused += self._send_group(group, version)
        return refused

    def _send_group(self, group: list[dict[str, Any]], version: str) -> list[Refused]:
        answer = self.http.post_json(self.url, group, version)
        if answer.status == 200:
            return []
        if answer.status in (400, 409) and len(group) > 1:
            return [r for s in group for r in self._send_group([s], version)]
        if answer.status in (400, 409):
            return [Refused(str(group[0].get("id", "")), answer.status, answer.message())]
        raise TransferError(f"POST {self.url}: {answer.status} {answer.message()}")


def prefetched(batches: Iterator[Batch]) -> Iterator[Batch]:
    """The batches, the next one read (in a thread) while the caller sends the current one:
    reading the source and writing the target overlap. The checkpoint is unaffected: it moves
    only once a batch has been sent."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-read") as pool:
        upcoming = pool.submit(next, batches, None)
        while (batch := upcoming.result()) is not None:
            upcoming = pool.submit(next, batches, None)
            yield batch


def run_import(
    source: Source,
    target: Target,
    checkpoint_path: Path,
    progress: ProgressBar,
    max_batches: int | None = None,
) -> ImportResult:
    """Import from the checkpoint's position on; stop after `max_batches` batches if given."""
    checkpoint = Checkpoint.load(checkpoint_path, source.name)
    sent_now = 0
    batches = prefetched(source.batches(checkpoint.position))
    for batches_now, batch in enumerate(batches, start=1):
        checkpoint.refused += target.send(batch.statements)
        checkpoint.position = batch.position
        checkpoint.sent += len(batch.statements)
        checkpoint.batches += 1
        checkpoint.finished = False
        checkpoint.save(checkpoint_path)
        sent_now += len(batch.statements)
        progress.advance(len(batch.statements))
        if max_batches is not None and batches_now >= max_batches:
            progress.finish()
            return ImportResult(checkpoint, sent_now, complete=False)
    checkpoint.finished = True
    checkpoint.save(checkpoint_path)
    progress.finish()
    return ImportResult(checkpoint, sent_now, complete=True)
